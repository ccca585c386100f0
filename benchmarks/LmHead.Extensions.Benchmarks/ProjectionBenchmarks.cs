using BenchmarkDotNet.Attributes;
using LmHead.Extensions.Decoding;
using static TorchSharp.torch;


namespace LmHead.Extensions.Benchmarks;

/// <summary>The projection of one hidden state to GPT-2 logits ([50257 x 768] . h), against a memory-bandwidth reference.</summary>
/// <remarks>
/// One invocation per iteration, so that with <see cref="ColdCaches"/> every measured call starts after 64 MB of other
/// data went through both cores (twice the 32 MB L3), as in a decoding step where the model's other weights are read
/// between two projections. Without it, calls follow each other and part of a 77 MB half-precision matrix can still be
/// in the L3 from the previous call.
/// </remarks>
[InProcessShortJob]
[InvocationCount(1)]
[WarmupCount(5)]
[IterationCount(25)]
public class ProjectionBenchmarks
{
    private const int Vocabulary = 50257;
    private const int Hidden = 768;

    private Tensor _weight = null!;
    private Tensor _half = null!;
    private Tensor _brain = null!;
    private Tensor _hidden = null!;
    private LogitsProjector _torchFloat = null!;
    private LogitsProjector _simdFloat = null!;
    private LogitsProjector _torchHalf = null!;
    private LogitsProjector _simdHalf = null!;
    private LogitsProjector _simdBrain = null!;
    private LogitsProjector _torchBrain = null!;
    private float[] _stream = null!;
    private float[] _evictor = null!;

    /// <summary>Whether the caches are flushed before every measured call.</summary>
    [Params(false, true)]
    public bool ColdCaches { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _weight = randn(Vocabulary, Hidden, generator: new Generator(3)).mul(0.02);
        _half = _weight.to_type(ScalarType.Float16);
        _brain = _weight.to_type(ScalarType.BFloat16);
        _hidden = randn(Hidden, generator: new Generator(4));
        _torchFloat = new LogitsProjector(_weight) { UseSimdKernel = false };
        _simdFloat = new LogitsProjector(_weight) { UseSimdKernel = true };
        _torchHalf = new LogitsProjector(_half) { UseSimdKernel = false };
        _simdHalf = new LogitsProjector(_half) { UseSimdKernel = true };
        _simdBrain = new LogitsProjector(_brain) { UseSimdKernel = true };
        _torchBrain = new LogitsProjector(_brain) { UseSimdKernel = false };
        // 160 MB, like the fp32 matrix (154 MB): far beyond any cache.
        _stream = MemoryBandwidth.Stream(40_000_000);
        new Random(5).NextBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_stream.AsSpan()));
        Array.Clear(_stream);
        _evictor = MemoryBandwidth.Stream(16_000_000);
        Array.Fill(_evictor, 1f);
    }

    [IterationSetup]
    public void EvictCaches()
    {
        if (ColdCaches)
        {
            MemoryBandwidth.Sum(_evictor);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var p in new[] { _torchFloat, _simdFloat, _torchHalf, _simdHalf, _simdBrain, _torchBrain })
        {
            p.Dispose();
        }

        _weight.Dispose();
        _half.Dispose();
        _brain.Dispose();
        _hidden.Dispose();
    }

    /// <summary>Memory-bandwidth reference: a SIMD sum over 160 MB on both cores (bytes / time = read bandwidth).</summary>
    [Benchmark(Baseline = true)]
    public float BandwidthSum160MB() => MemoryBandwidth.Sum(_stream);

    [Benchmark]
    public Tensor TorchLinearFp32() => Run(_torchFloat);

    [Benchmark]
    public Tensor SimdKernelFp32() => Run(_simdFloat);

    [Benchmark]
    public Tensor TorchLinearFp16() => Run(_torchHalf);

    [Benchmark]
    public Tensor SimdKernelFp16() => Run(_simdHalf);

    [Benchmark]
    public Tensor SimdKernelBf16() => Run(_simdBrain);

    [Benchmark]
    public Tensor TorchLinearBf16() => Run(_torchBrain);

    private Tensor Run(LogitsProjector projector)
    {
        var logits = projector.Project(_hidden);
        logits.Dispose();
        return logits;
    }
}
