using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using LLama.Native;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Cpu;
using static TorchSharp.torch;


namespace LmHead.Extensions.Benchmarks;

/// <summary>One sampling step over a GPT-2-sized row (V = 50257, T = 0.7), top-k 50 and top-k off (k = V), side by side.</summary>
[MemoryDiagnoser(false)]
[InProcessShortJob]
public class SamplingBenchmarks
{
    private const int Vocabulary = 50257;
    private const float Temperature = 0.7f;

    private Tensor _logits = null!;
    private Tensor _batch = null!;
    private float[] _row = null!;
    private DecodingPipeline _fast = null!;
    private DecodingPipeline _tensor = null!;
    private CpuRowSampler _rowSampler = null!;
    private SamplingRandom _random = null!;
    private SafeLLamaSamplerChainHandle _llama = null!;
    private LLamaTokenData[] _llamaBuffer = null!;

    /// <summary>Top-k; 50257 means no top-k stage.</summary>
    [Params(50, Vocabulary)]
    public int K { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // Logits shaped like a language model's: mostly around 0 with a long upper tail.
        _logits = randn(Vocabulary, generator: new Generator(1)).mul(3);
        _batch = randn(32, Vocabulary, generator: new Generator(2)).mul(3);
        _row = _logits.data<float>().ToArray();
        var builder = new DecodingPipelineBuilder().UseTemperature(Temperature);
        if (K < Vocabulary)
        {
            builder.UseTopK(K);
        }

        _fast = builder.Build();
        _tensor = builder.Build();
        _tensor.UseCpuFastPath = false;
        _rowSampler = new CpuRowSampler(_fast.CpuPlan!, 0);
        _random = new SamplingRandom(7);

        // Touching NativeApi first runs LLamaSharp's loader, which picks the avx2/avx512 build of llama.cpp for this CPU.
        NativeApi.llama_empty_call();
        _llama = SafeLLamaSamplerChainHandle.Create(LLamaSamplerChainParams.Default());
        if (K < Vocabulary)
        {
            _llama.AddTopK(K);
        }

        _llama.AddTemperature(Temperature);
        _llama.AddDistributionSampler(7);
        _llamaBuffer = new LLamaTokenData[Vocabulary];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _logits.Dispose();
        _batch.Dispose();
        _llama.Dispose();
    }

    /// <summary>The floor: one SIMD pass over the row (its maximum).</summary>
    [Benchmark(Baseline = true)]
    public float OnePassFloor()
    {
        var max = Vector256.Create(float.NegativeInfinity);
        ref float start = ref _row[0];
        int i = 0;
        for (; i <= _row.Length - 8; i += 8)
        {
            max = Vector256.MaxNative(max, Vector256.LoadUnsafe(ref start, (nuint)i));
        }

        float result = Vector256.Max(max, max).GetElement(0);
        for (; i < _row.Length; i++)
        {
            result = Math.Max(result, _row[i]);
        }

        return result;
    }

    /// <summary>The Python seed's recipe in TorchSharp: divide, topk, full_like(-inf) + scatter, softmax over V, multinomial.</summary>
    [Benchmark]
    public long SeedRecipeTorch()
    {
        using var scope = NewDisposeScope();
        var scaled = _logits.div(Temperature);
        var (values, indexes) = scaled.topk(K);
        var filtered = full_like(scaled, float.NegativeInfinity).scatter(0, indexes, values);
        var probabilities = filtered.softmax(0);
        return multinomial(probabilities, 1).item<long>();
    }

    /// <summary>Our pipeline on the tensor path (TorchSharp stages, float64 inverse CDF).</summary>
    [Benchmark]
    public int PipelineTensorPath() => _tensor.NextToken(_logits, _random).TokenId;

    /// <summary>Our pipeline with the CPU fast path (what NextToken does by default), 10 candidates included.</summary>
    [Benchmark]
    public int PipelineFastPath() => _fast.NextToken(_logits, _random).TokenId;

    /// <summary>The fast path's row sampler alone, on a managed array (no tensor wrapper, no candidates).</summary>
    [Benchmark]
    public int FastRowSampler() => _rowSampler.Sample(_row, _random.NextDouble())!.TokenId;

    /// <summary>llama.cpp's sampler chain (top-k, temperature, dist) through LLamaSharp, including filling its token array.</summary>
    [Benchmark]
    public int LlamaCppChain()
    {
        for (int i = 0; i < _row.Length; i++)
        {
            _llamaBuffer[i] = new LLamaTokenData(i, _row[i], 0f);
        }

        var data = new LLamaTokenDataArray(_llamaBuffer, false);
        using var pin = LLamaTokenDataArrayNative.Create(data, out var native);
        _llama.Apply(ref native);
        return (int)native.Data[(int)native.Selected].ID;
    }

    /// <summary>32 rows through the fast path (rows in parallel on both cores), per batch.</summary>
    [Benchmark]
    public int FastPathBatchOf32() => _fast.NextTokens(_batch, _random)[31].TokenId;

    /// <summary>32 rows through the fast path one row at a time on one core, per batch.</summary>
    [Benchmark]
    public int FastPath32RowsSequential()
    {
        int last = 0;
        for (int r = 0; r < 32; r++)
        {
            using var row = _batch[r];
            last = _fast.NextToken(row, _random).TokenId;
        }

        return last;
    }
}
