using BenchmarkDotNet.Attributes;
using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// One decode step (the hidden state of one new token per sequence, without the head) of a GPT-2-small-shaped model
/// (124M parameters, random weights) in float32, float16 and bfloat16, at position 16 and 512, for 1, 8 and 16 sequences
/// with their own caches: the managed step (the default), the libtorch step for comparison, and the bandwidth bound.
/// </summary>
/// <remarks>
/// Every cache is filled to <see cref="Position"/> once; each measured step is followed by a rewind to that position,
/// so every invocation decodes the same position.
/// </remarks>
[InProcessShortJob]
public class DecodeStepBenchmarks
{
    private Gpt2Model _model = null!;
    private Gpt2KvCache[] _caches = null!;
    private int[][] _tokens = null!;
    private Tensor _token = null!;
    private float[] _weightSizedStream = null!;

    /// <summary>The dtype of the weights (and of the cache).</summary>
    [Params(ScalarType.Float32, ScalarType.Float16, ScalarType.BFloat16)]
    public ScalarType DType { get; set; }

    /// <summary>How many tokens precede the measured one.</summary>
    [Params(16, 512)]
    public int Position { get; set; }

    /// <summary>How many sequences decode together.</summary>
    [Params(1, 8, 16)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var config = Gpt2SmallShape.Config;
        _model = Gpt2SmallShape.CreateRandom(DType);

        // Read per step: every block weight; not the embeddings (one row each) nor the head.
        long bytesPerToken = _model.named_parameters()
            .Where(p => p.name.Contains(".h.", StringComparison.Ordinal))
            .Sum(p => p.parameter.NumberOfElements * p.parameter.ElementSize);
        _weightSizedStream = MemoryBandwidth.Stream(bytesPerToken / sizeof(float));
        var random = new Random(12);
        _caches = [.. Enumerable.Range(0, Batch).Select(_ => _model.CreateKvCache())];
        _tokens = [.. Enumerable.Range(0, Batch).Select(_ => new[] { random.Next(config.VocabularySize) })];
        _token = tensor(new long[] { _tokens[0][0] });

        // Fill every cache to Position with batched managed steps (a 512-token libtorch prefill of float16 takes a minute).
        for (int i = 0; i < Position; i++)
        {
            int[][] step = [.. _caches.Select(_ => new[] { random.Next(config.VocabularySize) })];
            using var hidden = _model.ComputeLastHiddenStates(_caches, step);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var cache in _caches)
        {
            cache.Dispose();
        }

        _token.Dispose();
        _model.Dispose();
    }

    /// <summary>The bandwidth bound: one SIMD read (both cores) of as many bytes as the blocks' weights.</summary>
    [Benchmark(Baseline = true)]
    public float WeightReadBound() => MemoryBandwidth.Sum(_weightSizedStream);

    /// <summary>The managed step: every sequence's new token in one batched call (the default for cached decoding).</summary>
    [Benchmark]
    public long ManagedStep()
    {
        using var hidden = _model.ComputeLastHiddenStates(_caches, _tokens);
        Rewind();
        return hidden.shape[0];
    }

    /// <summary>The libtorch step of the first sequence alone (the path before the managed step); measured at <see cref="Batch"/> = 1 only.</summary>
    [Benchmark]
    public long TorchStep()
    {
        if (Batch != 1)
        {
            return 0;
        }

        _model.UseManagedDecodeStep = false;
        try
        {
            using var hidden = _model.ComputeHiddenStates(_token, _caches[0]);
            _caches[0].Rewind(Position);
            return hidden.shape[0];
        }
        finally
        {
            _model.UseManagedDecodeStep = true;
        }
    }

    private void Rewind()
    {
        foreach (var cache in _caches)
        {
            cache.Rewind(Position);
        }
    }
}
