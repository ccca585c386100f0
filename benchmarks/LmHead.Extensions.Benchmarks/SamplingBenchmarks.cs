using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using LLama.Native;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Cpu;
using static TorchSharp.torch;


namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// One sampling step over a GPT-2-sized row (V = 50257, T = 0.7) for several stage combinations, side by side with the
/// one-pass floor, the tensor path and llama.cpp's sampler chain given the same samplers.
/// </summary>
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
    private TokenHistory _history = null!;

    /// <summary>
    /// The stages after T = 0.7 (the penalty case reads a history of 64 ids). The rows are <c>randn · 3</c> (peaked: at
    /// T = 0.7 the best token holds about half the mass and top-p 0.9 keeps about 120 tokens, as a language model's
    /// confident rows do); "flat row" cases use <c>randn</c> (top-p 0.9 then keeps thousands of tokens, the worst case of
    /// the window); "float16" cases pass the same row as a float16 tensor (the pipeline widens it; the row sampler and
    /// llama.cpp read the float32 values).
    /// </summary>
    [ParamsSource(nameof(StageCases))]
    public string Stages { get; set; } = "top-k 50";

    /// <summary>
    /// Every case, or only those named in the environment variable <c>SAMPLING_STAGES</c> (separated by <c>|</c>), so one
    /// case can be measured without the whole class: <c>SAMPLING_STAGES='top-k 50' dotnet run ... --filter '*SamplingBenchmarks*'</c>.
    /// </summary>
    public static IEnumerable<string> StageCases()
    {
        string[] all = ["top-k 50", "k = V", "top-p 0.9", "top-k 50, top-p 0.95, min-p 0.05, rep 1.1", "top-p 0.9, flat row", "top-k 50, top-p 0.95, min-p 0.05, rep 1.1, float16"];
        string? chosen = Environment.GetEnvironmentVariable("SAMPLING_STAGES");
        return string.IsNullOrEmpty(chosen) ? all : all.Where(stages => chosen.Split('|').Contains(stages));
    }

    private DecodingOptions Options => Stages switch
    {
        "top-k 50" => new() { Temperature = Temperature, TopK = 50 },
        "k = V" => new() { Temperature = Temperature, TopK = null },
        "top-p 0.9" or "top-p 0.9, flat row" => new() { Temperature = Temperature, TopK = null, TopP = 0.9f },
        _ => new() { Temperature = Temperature, TopK = 50, TopP = 0.95f, MinP = 0.05f, RepetitionPenalty = 1.1f },
    };

    [GlobalSetup]
    public void Setup()
    {
        // Logits shaped like a language model's: mostly around 0 with a long upper tail.
        float scale = Stages.EndsWith("flat row", StringComparison.Ordinal) ? 1f : 3f;
        var dtype = Stages.EndsWith("float16", StringComparison.Ordinal) ? ScalarType.Float16 : ScalarType.Float32;
        using (var logits = randn(Vocabulary, generator: new Generator(1)).mul(scale))
        using (var batch = randn(32, Vocabulary, generator: new Generator(2)).mul(scale))
        {
            _logits = logits.to_type(dtype);
            _batch = batch.to_type(dtype);
        }

        using (var wide = _logits.to_type(ScalarType.Float32))
        {
            _row = wide.data<float>().ToArray();
        }
        // A prompt of 48 ids and 16 generated ones, some repeated, as a chat turn would have.
        var ids = new Random(3);
        _history = new TokenHistory([.. Enumerable.Range(0, 48).Select(_ => ids.Next(Vocabulary))], [.. Enumerable.Range(0, 16).Select(i => ids.Next(Vocabulary) / (1 + i % 3))]);
        var options = Options;
        _fast = DecodingPipeline.Create(options);
        _tensor = DecodingPipeline.Create(options);
        _tensor.UseCpuFastPath = false;
        _rowSampler = new CpuRowSampler(_fast.CpuPlan!, 0);
        _random = new SamplingRandom(7);

        // Touching NativeApi first runs LLamaSharp's loader, which picks the avx2/avx512 build of llama.cpp for this CPU.
        NativeApi.llama_empty_call();
        // llama.cpp's own order: penalties, top-k, top-p, min-p, temperature, then the draw.
        _llama = SafeLLamaSamplerChainHandle.Create(LLamaSamplerChainParams.Default());
        if (options.HasRepetitionPenalty)
        {
            _llama.AddPenalties(_history.PromptTokens.Count + _history.GeneratedTokens.Count, options.RepetitionPenalty!.Value, 0f, 0f);
            foreach (int id in _history.PromptTokens.Concat(_history.GeneratedTokens))
            {
                _llama.Accept((LLamaToken)id);
            }
        }

        if (options.TopK is { } k)
        {
            _llama.AddTopK(k);
        }

        if (options.TopP is { } p)
        {
            _llama.AddTopP(p, 1);
        }

        if (options.MinP is { } minP)
        {
            _llama.AddMinP(minP, 1);
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
    public float OnePassFloor() => MaxOf(_row);

    /// <summary>The floor's pass: the maximum of <paramref name="row"/>, 8 lanes at a time (also timed by <c>--profile-sampling</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float MaxOf(float[] row)
    {
        var max = Vector256.Create(float.NegativeInfinity);
        ref float start = ref row[0];
        int i = 0;
        for (; i <= row.Length - 8; i += 8)
        {
            max = Vector256.MaxNative(max, Vector256.LoadUnsafe(ref start, (nuint)i));
        }

        float result = Vector256.Max(max, max).GetElement(0);
        for (; i < row.Length; i++)
        {
            result = Math.Max(result, row[i]);
        }

        return result;
    }

    /// <summary>The Python seed's recipe in TorchSharp: divide, topk, full_like(-inf) + scatter, softmax over V, multinomial.</summary>
    [Benchmark]
    public long SeedRecipeTorch()
    {
        using var scope = NewDisposeScope();
        var scaled = _logits.div(Temperature);
        var (values, indexes) = scaled.topk(Options.TopK ?? Vocabulary);
        var filtered = full_like(scaled, float.NegativeInfinity).scatter(0, indexes, values);
        var probabilities = filtered.softmax(0);
        return multinomial(probabilities, 1).item<long>();
    }

    /// <summary>Our pipeline on the tensor path (TorchSharp stages, float64 inverse CDF).</summary>
    [Benchmark]
    public int PipelineTensorPath() => _tensor.NextToken(_logits, _random, _history).TokenId;

    /// <summary>Our pipeline with the CPU fast path (what NextToken does by default), 10 candidates included.</summary>
    [Benchmark]
    public int PipelineFastPath() => _fast.NextToken(_logits, _random, _history).TokenId;

    /// <summary>The fast path's row sampler alone, on a managed array (no tensor wrapper, no candidates).</summary>
    [Benchmark]
    public int FastRowSampler() => _rowSampler.Sample(_row, _random.NextDouble(), _history)!.TokenId;

    /// <summary>llama.cpp's sampler chain (the same samplers, temperature, dist) through LLamaSharp, including filling its token array.</summary>
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
    public int FastPathBatchOf32() => _fast.NextTokens(_batch, _random, _history)[31].TokenId;

    /// <summary>32 rows through the fast path one row at a time on one core, per batch.</summary>
    [Benchmark]
    public int FastPath32RowsSequential()
    {
        int last = 0;
        for (int r = 0; r < 32; r++)
        {
            using var row = _batch[r];
            last = _fast.NextToken(row, _random, _history).TokenId;
        }

        return last;
    }
}
