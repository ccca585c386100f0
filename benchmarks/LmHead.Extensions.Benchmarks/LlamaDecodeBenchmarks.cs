using BenchmarkDotNet.Attributes;
using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// One decode step (one new token with a cache at position 16, to the logits over 151,936 tokens) of a random-weight
/// model of Qwen2.5-0.5B's shape in float32 and bfloat16, against the bandwidth bound: one read of as many bytes as the
/// weights (issue 17: within 2x of it).
/// </summary>
[InProcessShortJob]
public class LlamaDecodeBenchmarks
{
    private const int Position = 16;
    private LlamaModel _model = null!;
    private LlamaKvCache _cache = null!;
    private Tensor _token = null!;
    private float[] _weightSizedStream = null!;

    /// <summary>The dtype of the weights.</summary>
    [Params(ScalarType.Float32, ScalarType.BFloat16)]
    public ScalarType DType { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _model = Qwen25HalfBShape.CreateRandom(DType);
        _weightSizedStream = MemoryBandwidth.Stream(Qwen25HalfBShape.WeightBytes(_model) / sizeof(float));
        _cache = _model.CreateKvCache();
        using (_model.ComputeHiddenStates(arange(Position, ScalarType.Int64), _cache))
        {
        }

        _token = tensor(new long[] { 42 });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cache.Dispose();
        _token.Dispose();
        _model.Dispose();
    }

    /// <summary>The bandwidth bound: one SIMD read (both cores) of as many bytes as the weights.</summary>
    [Benchmark(Baseline = true)]
    public float WeightReadBound() => MemoryBandwidth.Sum(_weightSizedStream);

    /// <summary>A cached step of one token, head included (<see cref="LlamaModel.ComputeLogits"/>).</summary>
    [Benchmark]
    public long DecodeStep()
    {
        using var logits = _model.ComputeLogits(_token, _cache);
        _cache.Rewind(Position);
        return logits.shape[0];
    }
}
