using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using LLama.Native;
using LmHead.Extensions.Benchmarks.LlamaCpp;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// End-to-end decoding of a GPT-2-small-shaped model (124M parameters, random weights) by llama.cpp (LLamaSharp 0.30.0,
/// 2 threads) and by this library's <see cref="Gpt2Model"/> on the same weights: written once by this library in the
/// Hugging Face layout (F32 and F16 <c>model.safetensors</c>), converted to GGUF by <see cref="Gpt2GgufConverter"/>, and
/// loaded by each engine from those files. Cases, for each dtype and <see cref="Position"/>: a decode step at that
/// position (the KV cache holds <see cref="Position"/> tokens) and processing a prompt of <see cref="Position"/> tokens
/// up to the first sampled token. Both sample with top-k 50 and temperature 0.7 (llama.cpp with its own sampler chain).
/// </summary>
/// <remarks>
/// <para>
/// The first set-up of a run writes and converts the files (about 1.7 GB in the temporary folder, deleted at exit)
/// and checks that llama.cpp's logits match this library's (<see cref="LlamaCppAgreement"/>); a mismatch stops the run.
/// </para>
/// <para>
/// A decode invocation is <see cref="StepsPerInvocation"/> consecutive steps, each feeding the token just sampled. The
/// cache is filled with <see cref="Position"/> prompt tokens once, in the set-up, and grows by one token per step, so
/// the warm-up and the three iterations decode positions <see cref="Position"/> to <see cref="Position"/> + 31 in both
/// engines (refilling this library's cache before every iteration would cost minutes per case in F16). Our side calls only the public API (<see cref="Gpt2Model.ComputeHiddenStates"/>,
/// <see cref="LogitsProjector.Project"/>, <see cref="DecodingPipeline.NextToken(Tensor, SamplingRandom)"/>), so a faster
/// model shows up here unchanged. The KV cache of llama.cpp is kept at the weights' precision (F32 or F16, F16 being its
/// default), as this library's is; flash attention is left at llama.cpp's default (auto: on for the CPU).
/// </para>
/// <para>
/// One warm-up and three measured iterations per case: this library's F16 prompt of 512 tokens takes about a minute.
/// </para>
/// </remarks>
[InProcessLongOperationJob]
[WarmupCount(1)]
[IterationCount(3)]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class LlamaCppEndToEndBenchmarks
{
    /// <summary>Decode steps per invocation (the reported time is per step).</summary>
    public const int StepsPerInvocation = 8;

    private const int Threads = 2;
    private const int TopK = 50;
    private const float Temperature = 0.7f;
    private const string Decode = "Decode step", Prompt = "Prompt";

    private static readonly Gpt2Config SmallShape = new() { HiddenSize = 768, LayerCount = 12, HeadCount = 12, VocabularySize = 50257, MaxPositions = 1024 };
    private static readonly Lazy<RandomGpt2Checkpoint> SharedCheckpoint = new(CreateCheckpoint);

    private int[] _prompt = null!;
    private LlamaCppGpt2? _llama;
    private Gpt2Model? _model;
    private LogitsProjector? _projector;
    private DecodingPipeline _pipeline = null!;
    private SamplingRandom _random = null!;
    private Tensor? _promptTensor;
    private Gpt2KvCache? _cache;
    private int _position;

    /// <summary>The stored dtype of the weights (F32 or F16 in both engines).</summary>
    [Params(ScalarType.Float32, ScalarType.Float16)]
    public ScalarType DType { get; set; }

    /// <summary>The tokens in the cache before the first decode step, and the length of the measured prompt.</summary>
    [Params(16, 128, 256, 512)]
    public int Position { get; set; }

    private GgmlType Type => DType == ScalarType.Float32 ? GgmlType.F32 : GgmlType.F16;

    [GlobalSetup(Target = nameof(LlamaCppDecodeStep))]
    public void SetupLlamaCppDecode()
    {
        SetupLlamaCppPrompt();
        _llama!.Evaluate(_prompt.AsSpan(0, Position), 0);
        _position = Position;
    }

    [GlobalSetup(Target = nameof(LlamaCppPrompt))]
    public void SetupLlamaCppPrompt()
    {
        SetupPrompt();
        var cacheType = Type == GgmlType.F32 ? GGMLType.GGML_TYPE_F32 : GGMLType.GGML_TYPE_F16;
        _llama = new LlamaCppGpt2(SharedCheckpoint.Value.Gguf(Type), SmallShape.MaxPositions, cacheType, Threads, TopK, Temperature, seed: 7);
    }

    [GlobalSetup(Target = nameof(LmHeadDecodeStep))]
    public void SetupLmHeadDecode()
    {
        SetupLmHeadPrompt();
        ClearLmHeadCache();
        using var prefix = _promptTensor![TensorIndex.Slice(0, Position)];
        using var hidden = _model!.ComputeHiddenStates(prefix, _cache);
        _position = Position;
    }

    [GlobalSetup(Target = nameof(LmHeadPrompt))]
    public void SetupLmHeadPrompt()
    {
        SetupPrompt();
        _model = Gpt2Pretrained.LoadModel(SharedCheckpoint.Value.Folder(Type), DType);
        _projector = _model.GetOutputEmbeddings();
        _promptTensor = tensor(_prompt.Select(id => (long)id).ToArray());
    }

    [IterationSetup(Target = nameof(LlamaCppPrompt))]
    public void ClearLlamaCppCache() => _llama!.Truncate(0);

    [IterationSetup(Target = nameof(LmHeadPrompt))]
    public void ClearLmHeadCache()
    {
        _cache?.Dispose();
        _cache = _model!.CreateKvCache();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _llama?.Dispose();
        _cache?.Dispose();
        _projector?.Dispose();
        _model?.Dispose();
        _promptTensor?.Dispose();
        (_llama, _cache, _projector, _model, _promptTensor) = (null, null, null, null, null);
    }

    /// <summary>llama.cpp: one token through the model with its KV cache, then its sampler chain.</summary>
    [BenchmarkCategory(Decode)]
    [Benchmark(Baseline = true, OperationsPerInvoke = StepsPerInvocation)]
    public int LlamaCppDecodeStep()
    {
        int token = _prompt[_position];
        for (int step = 0; step < StepsPerInvocation; step++)
        {
            _llama!.Evaluate([token], _position++);
            token = _llama.Sample();
        }

        return token;
    }

    /// <summary>This library: <c>ComputeHiddenStates</c> of one token with a <see cref="Gpt2KvCache"/>, the projection, temperature + top-k sampling.</summary>
    [BenchmarkCategory(Decode)]
    [Benchmark(OperationsPerInvoke = StepsPerInvocation)]
    public int LmHeadDecodeStep()
    {
        int token = _prompt[_position];
        _position += StepsPerInvocation;
        for (int step = 0; step < StepsPerInvocation; step++)
        {
            using var scope = NewDisposeScope();
            var ids = tensor(new long[] { token });
            var hidden = _model!.ComputeHiddenStates(ids, _cache);
            var logits = _projector!.Project(hidden[0]);
            token = _pipeline.NextToken(logits, _random).TokenId;
        }

        return token;
    }

    /// <summary>llama.cpp: a prompt of <see cref="Position"/> tokens as one batch, then the first sampled token.</summary>
    [BenchmarkCategory(Prompt)]
    [Benchmark(Baseline = true)]
    public int LlamaCppPrompt()
    {
        _llama!.Evaluate(_prompt.AsSpan(0, Position), 0);
        return _llama.Sample();
    }

    /// <summary>This library: <c>ComputeHiddenStates</c> of <see cref="Position"/> ids into an empty cache, then the last position's projection and sampling.</summary>
    [BenchmarkCategory(Prompt)]
    [Benchmark]
    public int LmHeadPrompt()
    {
        using var scope = NewDisposeScope();
        var prefix = _promptTensor![TensorIndex.Slice(0, Position)];
        var hidden = _model!.ComputeHiddenStates(prefix, _cache);
        var logits = _projector!.Project(hidden[Position - 1]);
        return _pipeline.NextToken(logits, _random).TokenId;
    }

    private void SetupPrompt()
    {
        var random = new Random(12);
        _prompt = [.. Enumerable.Range(0, SmallShape.MaxPositions).Select(_ => random.Next(SmallShape.VocabularySize))];
        _pipeline = new DecodingPipelineBuilder().UseTemperature(Temperature).UseTopK(TopK).Build();
        _random = new SamplingRandom(7);
    }

    /// <summary>Writes, converts and checks the weights once per process; the files are deleted when the process exits.</summary>
    private static RandomGpt2Checkpoint CreateCheckpoint()
    {
        var checkpoint = RandomGpt2Checkpoint.Create(SmallShape, seed: 11);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => checkpoint.Dispose();
        foreach (var type in new[] { GgmlType.F32, GgmlType.F16 })
        {
            Console.WriteLine($"// LlamaCppEndToEnd: {LlamaCppAgreement.Check(checkpoint, type, promptLength: 16)}");
        }

        return checkpoint;
    }
}
