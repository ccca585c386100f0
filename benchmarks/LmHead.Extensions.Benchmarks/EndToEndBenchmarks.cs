using BenchmarkDotNet.Attributes;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Models;
using static TorchSharp.torch;


namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// One decoding step of a GPT-2-small-shaped model (124M parameters, random weights) at position 16 and 512: with the
/// KV cache, recomputing the whole sequence, and the bandwidth bound (one read of every weight the step uses).
/// </summary>
/// <remarks>
/// One invocation per iteration: a cached step extends the cache, so [IterationSetup] prefills a fresh cache to exactly
/// <see cref="Position"/> tokens before each measured step.
/// </remarks>
[InProcessShortJob]
[InvocationCount(1)]
public class EndToEndBenchmarks
{
    private const float Temperature = 0.7f;
    private const int TopK = 50;

    private Gpt2Model _model = null!;
    private LogitsProjector _projector = null!;
    private LogitsProjector _torchProjector = null!;
    private Tensor _lastHidden = null!;
    private DecodingPipeline _pipeline = null!;
    private SamplingRandom _random = null!;
    private Tensor _prompt = null!;
    private Tensor _nextToken = null!;
    private Tensor _sequence = null!;
    private Gpt2KvCache? _cache;
    private float[] _weightSizedStream = null!;

    /// <summary>How many tokens precede the measured one.</summary>
    [Params(16, 512)]
    public int Position { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var config = Gpt2SmallShape.Config;
        _model = Gpt2SmallShape.CreateRandom();

        // Read per token: every block weight, ln_f and wte (the tied head); of wpe only one row.
        long bytesPerToken = _model.named_parameters()
            .Where(p => !p.name.StartsWith("transformer.wpe.", StringComparison.Ordinal))
            .Sum(p => p.parameter.NumberOfElements * p.parameter.ElementSize);

        Console.WriteLine($"// EndToEnd: {bytesPerToken:N0} bytes of weights read per token");
        _weightSizedStream = MemoryBandwidth.Stream(bytesPerToken / sizeof(float));
        new Random(5).NextBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_weightSizedStream.AsSpan()));
        Array.Clear(_weightSizedStream);

        _projector = _model.GetOutputEmbeddings();
        _torchProjector = _model.GetOutputEmbeddings();
        _torchProjector.UseSimdKernel = false;
        _pipeline = new DecodingPipelineBuilder().UseTemperature(Temperature).UseTopK(TopK).Build();
        _random = new SamplingRandom(7);
        _prompt = randint(0, config.VocabularySize, [config.MaxPositions], generator: new Generator(12));
        _nextToken = _prompt[TensorIndex.Slice(Position, Position + 1)];
        _sequence = _prompt[TensorIndex.Slice(0, Position + 1)];
        using (var hidden = _model.ComputeHiddenStates(_sequence))
        {
            _lastHidden = hidden[Position].clone();
        }
    }

    [IterationSetup(Targets = [nameof(CachedStep), nameof(CachedStepTorchLinearHead)])]
    public void PrefillCache()
    {
        _cache?.Dispose();
        _cache = _model.CreateKvCache();
        using var prefix = _prompt[TensorIndex.Slice(0, Position)];
        using var hidden = _model.ComputeHiddenStates(prefix, _cache);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cache?.Dispose();
        _projector.Dispose();
        _torchProjector.Dispose();
        _lastHidden.Dispose();
        _model.Dispose();
        _prompt.Dispose();
        _nextToken.Dispose();
        _sequence.Dispose();
    }

    /// <summary>The bandwidth bound: one SIMD read (both cores) of as many bytes as the step's weights.</summary>
    [Benchmark(Baseline = true)]
    public float WeightReadBound() => MemoryBandwidth.Sum(_weightSizedStream);

    /// <summary>One token with the KV cache: hidden state of one token, projection, temperature + top-k sampling.</summary>
    [Benchmark]
    public int CachedStep() => Step(_projector);

    /// <summary>The cached step with the head projected by torch <c>linear</c> (the default before the fp32 SIMD kernel).</summary>
    [Benchmark]
    public int CachedStepTorchLinearHead() => Step(_torchProjector);

    /// <summary>The cached step's head alone: projection of one hidden state (the default: the SIMD kernel for fp32) and sampling.</summary>
    [Benchmark]
    public int HeadAndSampling() => Head(_projector);

    /// <summary>The head with torch <c>linear</c> instead of the SIMD kernel.</summary>
    [Benchmark]
    public int HeadAndSamplingTorchLinear() => Head(_torchProjector);

    /// <summary>One token without a cache: the whole sequence (Position + 1 tokens) recomputed, then the same head and sampling.</summary>
    [Benchmark]
    public int RecomputeStep()
    {
        using var scope = NewDisposeScope();
        var hidden = _model.ComputeHiddenStates(_sequence);
        var logits = _projector.Project(hidden[Position]);
        return _pipeline.NextToken(logits, _random).TokenId;
    }

    private int Head(LogitsProjector projector)
    {
        using var logits = projector.Project(_lastHidden);
        return _pipeline.NextToken(logits, _random).TokenId;
    }

    private int Step(LogitsProjector projector)
    {
        using var scope = NewDisposeScope();
        var hidden = _model.ComputeHiddenStates(_nextToken, _cache);
        var logits = projector.Project(hidden[0]);
        return _pipeline.NextToken(logits, _random).TokenId;
    }
}
