using LmHead.Extensions.Decoding.Cpu;
using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Models;

/// <summary>
/// The attention of one <see cref="LlamaDecodeStep"/> layer: writes each sequence's new (rotated) key and value into its
/// cache's float32 storage after the held positions, then attends every query head over its key/value head's cache
/// (query head h reads key/value head h / group), skipping left padding; heads of all sequences run in parallel.
/// </summary>
internal sealed unsafe class LlamaStepAttention
{
    private const long MinimumParallelWork = 1 << 16;

    private readonly IReadOnlyList<LlamaDecodeStep.Sequence> _sequences;
    private readonly bool[]?[] _padding;
    private readonly int _kvHeads;
    private readonly int _headDim;
    private readonly int _group;

    internal LlamaStepAttention(IReadOnlyList<LlamaDecodeStep.Sequence> sequences, int kvHeads, int headDim, int group)
    {
        _sequences = sequences;
        _kvHeads = kvHeads;
        _headDim = headDim;
        _group = group;
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

    /// <summary>The position of sequence i's new token: its real (unpadded) tokens so far.</summary>
    internal long Position(int i) => _sequences[i].Cache.RealCounts?[_sequences[i].Row] ?? 0;

    /// <param name="layer">The layer.</param>
    /// <param name="query">Rotated queries, <c>[N, H·hd]</c>.</param>
    /// <param name="key">Rotated new keys, <c>[N, H_kv·hd]</c>.</param>
    /// <param name="value">New values, <c>[N, H_kv·hd]</c>.</param>
    /// <param name="context">The output, <c>[N, H·hd]</c>.</param>
    internal void Run(int layer, float* query, float* key, float* value, float* context)
    {
        int heads = _kvHeads * _group, q = heads * _headDim, kv = _kvHeads * _headDim;
        var keys = new nint[_sequences.Count];
        var values = new nint[_sequences.Count];
        for (int i = 0; i < _sequences.Count; i++)
        {
            var (cache, row, _) = _sequences[i];
            long rowOffset = (long)row * _kvHeads * cache.Capacity * _headDim;
            keys[i] = (nint)((float*)Gpt2DecodeStep.Address(cache.Keys(layer)) + rowOffset);
            values[i] = (nint)((float*)Gpt2DecodeStep.Address(cache.Values(layer)) + rowOffset);
            for (int head = 0; head < _kvHeads; head++)
            {
                long slot = HeadOffset(cache, head) + ((long)cache.Length * _headDim);
                new ReadOnlySpan<float>(key + ((long)i * kv) + (head * _headDim), _headDim).CopyTo(new Span<float>((float*)keys[i] + slot, _headDim));
                new ReadOnlySpan<float>(value + ((long)i * kv) + (head * _headDim), _headDim).CopyTo(new Span<float>((float*)values[i] + slot, _headDim));
            }
        }

        void Attend(int item)
        {
            int i = item / heads, head = item % heads;
            var cache = _sequences[i].Cache;
            int count = cache.Length + 1;
            float[] scores = new float[(count + 7) & ~7];
            long offset = HeadOffset(cache, head / _group);
            fixed (float* scratch = scores)
            {
                Gpt2DecodeKernels.Attend(
                    query + ((long)i * q) + (head * _headDim), (byte*)((float*)keys[i] + offset), (byte*)((float*)values[i] + offset), count, _headDim,
                    WeightFormat.Float32, _padding[i], scratch, context + ((long)i * q) + (head * _headDim));
            }
        }

        int items = _sequences.Count * heads;
        long work = _sequences.Sum(s => (long)s.Cache.Length + 1) * heads * _headDim;
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

    /// <summary>Floats from a row's start to a key/value head's first position.</summary>
    private long HeadOffset(KvCache cache, int kvHead) => (long)kvHead * cache.Capacity * _headDim;
}
