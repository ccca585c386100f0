using LmHead.Extensions.Decoding.Cpu;
using static TorchSharp.torch;
using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Models;

/// <summary>
/// The attention of a managed step: writes each sequence's new keys and values into its cache's storage (slots
/// <see cref="KvCache.Length"/> on), then attends each new token's query, head by head in parallel, over that cache
/// in place up to and including its own slot (causal; nothing is copied or concatenated).
/// </summary>
internal sealed unsafe class Gpt2CachedAttention
{
    private const long MinimumParallelWork = 1 << 16;

    private readonly IReadOnlyList<Gpt2DecodeStep.Sequence> _sequences;
    private readonly bool[]?[] _padding;
    private readonly int[] _firstRow;
    private readonly int _rows;
    private readonly int _heads;
    private readonly int _headSize;
    private readonly WeightFormat _format;
    private readonly int _elementSize;

    /// <summary>Reads every sequence's slot, position and padding; the caches must already have room for the new positions.</summary>
    internal Gpt2CachedAttention(IReadOnlyList<Gpt2DecodeStep.Sequence> sequences, int heads, int headSize, WeightFormat format)
    {
        _firstRow = new int[sequences.Count];
        for (int i = 0; i < sequences.Count; i++)
        {
            _firstRow[i] = _rows;
            _rows += sequences[i].Tokens.Length;
        }

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

    /// <summary>The position (for the position embedding) of sequence <paramref name="i"/>'s first new token: its real tokens so far.</summary>
    internal long Position(int i) => _sequences[i].Cache.RealCounts?[_sequences[i].Row] ?? 0;

    /// <summary>The step's activation row of sequence <paramref name="i"/>'s first new token; its others follow.</summary>
    internal int FirstRow(int i) => _firstRow[i];

    /// <summary>Stores the keys and values of <paramref name="qkv"/> (<c>[N, 3d]</c>) and writes the attention output <c>[N, d]</c>.</summary>
    internal void Run(int layer, float* qkv, float* context)
    {
        int d = _heads * _headSize;
        var keys = new nint[_sequences.Count];
        var values = new nint[_sequences.Count];
        var sequenceOfRow = new int[_rows];
        for (int i = 0; i < _sequences.Count; i++)
        {
            var (cache, row, tokens) = _sequences[i];
            long rowOffset = (long)row * _heads * cache.Capacity * _headSize * _elementSize;
            keys[i] = (nint)(Gpt2DecodeStep.Address(cache.Keys(layer)) + rowOffset);
            values[i] = (nint)(Gpt2DecodeStep.Address(cache.Values(layer)) + rowOffset);
            for (int t = 0; t < tokens.Length; t++)
            {
                sequenceOfRow[_firstRow[i] + t] = i;
                for (int head = 0; head < _heads; head++)
                {
                    long slot = HeadOffset(cache, head) + ((long)(cache.Length + t) * _headSize * _elementSize);
                    float* source = qkv + ((long)(_firstRow[i] + t) * 3 * d) + (head * _headSize);
                    Gpt2DecodeKernels.Store(source + d, (byte*)keys[i] + slot, _headSize, _format);
                    Gpt2DecodeKernels.Store(source + (2 * d), (byte*)values[i] + slot, _headSize, _format);
                }
            }
        }

        void Attend(int item)
        {
            int r = item / _heads, head = item % _heads, i = sequenceOfRow[r];
            var cache = _sequences[i].Cache;
            int count = cache.Length + (r - _firstRow[i]) + 1;
            float* scores = stackalloc float[(count + 7) & ~7];
            long offset = HeadOffset(cache, head);
            Gpt2DecodeKernels.Attend(
                qkv + ((long)r * 3 * d) + (head * _headSize), (byte*)keys[i] + offset, (byte*)values[i] + offset, count, _headSize, _format,
                _padding[i], scores, context + ((long)r * d) + (head * _headSize));
        }

        // Short caches are attended on this thread: below about 64K multiply-adds a parallel region costs more than it saves.
        int items = _rows * _heads;
        long work = _sequences.Sum(s => ((long)s.Cache.Length * s.Tokens.Length) + ((long)s.Tokens.Length * (s.Tokens.Length + 1) / 2)) * _heads * _headSize;
        if (Environment.ProcessorCount > 1 && items > 1 && work >= MinimumParallelWork)
        {
            KernelParallel.For(items, Attend);
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
