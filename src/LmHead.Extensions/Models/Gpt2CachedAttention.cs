using static TorchSharp.torch;
using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Models;

/// <summary>
/// The attention of a managed decode step: writes each sequence's new key and value into its cache's storage (slot
/// <see cref="KvCache.Length"/>), then attends each sequence's query, head by head in parallel, over that cache in
/// place (nothing is copied or concatenated).
/// </summary>
internal sealed unsafe class Gpt2CachedAttention
{
    private const long MinimumParallelWork = 1 << 16;

    private readonly IReadOnlyList<Gpt2DecodeStep.Sequence> _sequences;
    private readonly bool[]?[] _padding;
    private readonly int _heads;
    private readonly int _headSize;
    private readonly WeightFormat _format;
    private readonly int _elementSize;

    /// <summary>Reads every sequence's slot, position and padding; the caches must already have room for one more position.</summary>
    internal Gpt2CachedAttention(IReadOnlyList<Gpt2DecodeStep.Sequence> sequences, int heads, int headSize, WeightFormat format)
    {
        _sequences = sequences;
        _heads = heads;
        _headSize = headSize;
        _format = format;
        _elementSize = format == WeightFormat.Float32 ? sizeof(float) : sizeof(ushort);
        _padding = new bool[]?[sequences.Count];
        for (int i = 0; i < sequences.Count; i++)
        {
            if (sequences[i].Cache.Padding is { } padding)
            {
                using var row = padding[sequences[i].Row];
                _padding[i] = row.data<bool>().ToArray();
            }
        }
    }

    /// <summary>The position (for the position embedding) of sequence <paramref name="i"/>'s new token: its real tokens so far.</summary>
    internal long Position(int i) => _sequences[i].Cache.RealCounts?[_sequences[i].Row] ?? 0;

    /// <summary>Stores the keys and values of <paramref name="qkv"/> (<c>[N, 3d]</c>) and writes the attention output <c>[N, d]</c>.</summary>
    internal void Run(int layer, float* qkv, float* context)
    {
        int d = _heads * _headSize;
        var keys = new nint[_sequences.Count];
        var values = new nint[_sequences.Count];
        for (int i = 0; i < _sequences.Count; i++)
        {
            var (cache, row, _) = _sequences[i];
            long rowOffset = (long)row * _heads * cache.Capacity * _headSize * _elementSize;
            keys[i] = (nint)(Gpt2DecodeStep.Address(cache.Keys(layer)) + rowOffset);
            values[i] = (nint)(Gpt2DecodeStep.Address(cache.Values(layer)) + rowOffset);
            for (int head = 0; head < _heads; head++)
            {
                long slot = HeadOffset(cache, head) + ((long)cache.Length * _headSize * _elementSize);
                float* source = qkv + ((long)i * 3 * d) + (head * _headSize);
                Gpt2DecodeKernels.Store(source + d, (byte*)keys[i] + slot, _headSize, _format);
                Gpt2DecodeKernels.Store(source + (2 * d), (byte*)values[i] + slot, _headSize, _format);
            }
        }

        void Attend(int item)
        {
            int i = item / _heads, head = item % _heads;
            var cache = _sequences[i].Cache;
            int count = cache.Length + 1;
            float* scores = stackalloc float[(count + 7) & ~7];
            long offset = HeadOffset(cache, head);
            Gpt2DecodeKernels.Attend(
                qkv + ((long)i * 3 * d) + (head * _headSize), (byte*)keys[i] + offset, (byte*)values[i] + offset, count, _headSize, _format,
                _padding[i], scores, context + ((long)i * d) + (head * _headSize));
        }

        // Short caches are attended on this thread: below about 64K multiply-adds a parallel region costs more than it saves.
        int items = _sequences.Count * _heads;
        long work = _sequences.Sum(s => (long)s.Cache.Length + 1) * _heads * _headSize;
        if (Environment.ProcessorCount > 1 && items > 1 && work >= MinimumParallelWork)
        {
            Parallel.For(0, items, Attend);
        }
        else
        {
            for (int item = 0; item < items; item++)
            {
                Attend(item);
            }
        }
    }

    private long HeadOffset(Gpt2KvCache cache, int head) => (long)head * cache.Capacity * _headSize * _elementSize;
}
