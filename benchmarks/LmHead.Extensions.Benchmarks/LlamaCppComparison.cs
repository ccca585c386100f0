using LmHead.Extensions.Benchmarks.LlamaCpp;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// What <see cref="VersusLlamaCppDecodeBenchmarks"/> and <see cref="VersusLlamaCppPromptBenchmarks"/> share: a GPT-2-small-shaped
/// model (124M parameters, random weights) written once per process by this library in the Hugging Face layout (F32, F16
/// and BF16 <c>model.safetensors</c>), converted to GGUF by <see cref="Gpt2GgufConverter"/> and loaded from those files by
/// llama.cpp (LLamaSharp 0.30.0, 2 threads) and by <see cref="Gpt2Model"/>; both sample with top-k 50 and temperature
/// 0.7 (llama.cpp with its own sampler chain).
/// </summary>
/// <remarks>
/// <para>
/// The first set-up of a run writes and converts the files (about 2.2 GB in the temporary folder, deleted at exit) and
/// checks that llama.cpp's logits match this library's (<see cref="LlamaCppAgreement"/>); a mismatch stops the run.
/// </para>
/// <para>
/// llama.cpp's KV cache is kept at the weights' precision (F32 or F16, F16 being its default; F16 for BF16 weights), as this library's is;
/// flash attention is left at llama.cpp's default (auto: on for the CPU). Our side calls only the public API
/// (<see cref="Gpt2Model.ComputeHiddenStates"/>, <see cref="LogitsProjector.Project"/>,
/// <see cref="DecodingPipeline.NextToken(Tensor, SamplingRandom)"/>), so a faster model shows up here unchanged.
/// </para>
/// </remarks>
public abstract class LlamaCppComparison
{
    private const int Threads = 2;
    private const int TopK = 50;
    private const float Temperature = 0.7f;

    private static readonly Gpt2Config SmallShape = new() { HiddenSize = 768, LayerCount = 12, HeadCount = 12, VocabularySize = 50257, MaxPositions = 1024 };
    private static readonly Lazy<RandomGpt2Checkpoint> SharedCheckpoint = new(CreateCheckpoint);

    private DecodingPipeline _pipeline = null!;
    private SamplingRandom _random = null!;
    private LogitsProjector? _projector;
    private Tensor? _promptTensor;

    /// <summary>The stored dtype of the weights (F32, F16 or BF16 in both engines).</summary>
    [BenchmarkDotNet.Attributes.Params(ScalarType.Float32, ScalarType.Float16, ScalarType.BFloat16)]
    public ScalarType DType { get; set; }

    /// <summary>Random prompt ids, as many as the model has positions.</summary>
    private protected int[] PromptIds { get; private set; } = null!;

    /// <summary>llama.cpp, after <see cref="CreateLlamaCpp"/>.</summary>
    private protected LlamaCppGpt2? LlamaCpp { get; private set; }

    /// <summary>This library's model, after <see cref="LoadLmHead"/>.</summary>
    private protected Gpt2Model? Model { get; private set; }

    /// <summary>This library's cache, after <see cref="ResetLmHeadCache"/>.</summary>
    private protected Gpt2KvCache? Cache { get; private set; }

    private GgmlType Type => RandomGpt2Checkpoint.ToGgmlType(DType);

    /// <summary>Releases whichever engine the case used.</summary>
    [BenchmarkDotNet.Attributes.GlobalCleanup]
    public void Cleanup()
    {
        LlamaCpp?.Dispose();
        Cache?.Dispose();
        _projector?.Dispose();
        Model?.Dispose();
        _promptTensor?.Dispose();
        (LlamaCpp, Cache, _projector, Model, _promptTensor) = (null, null, null, null, null);
    }

    /// <summary>Loads the GGUF of <see cref="DType"/> into llama.cpp with an empty cache.</summary>
    private protected void CreateLlamaCpp()
    {
        CreatePrompt();
        var cacheType = RandomGpt2Checkpoint.CacheType(Type);
        LlamaCpp = new LlamaCppGpt2(SharedCheckpoint.Value.Gguf(Type), SmallShape.MaxPositions, cacheType, Threads, TopK, Temperature, seed: 7);
    }

    /// <summary>Loads the safetensors folder of <see cref="DType"/> into a <see cref="Gpt2Model"/> with an empty cache.</summary>
    private protected void LoadLmHead()
    {
        CreatePrompt();
        Model = Gpt2Pretrained.LoadModel(SharedCheckpoint.Value.Folder(Type), DType);
        _projector = Model.GetOutputEmbeddings();
        _promptTensor = tensor(PromptIds.Select(id => (long)id).ToArray());
        ResetLmHeadCache();
    }

    /// <summary>Replaces this library's cache with an empty one.</summary>
    private protected void ResetLmHeadCache()
    {
        Cache?.Dispose();
        Cache = Model!.CreateKvCache();
    }

    /// <summary>This library: the first <paramref name="count"/> prompt ids through the model into <see cref="Cache"/>, then the last position's token.</summary>
    private protected int RunLmHeadPrompt(int count)
    {
        using var scope = NewDisposeScope();
        var ids = _promptTensor![TensorIndex.Slice(0, count)];
        var hidden = Model!.ComputeHiddenStates(ids, Cache);
        return Sample(hidden[count - 1]);
    }

    /// <summary>This library: one token through the model with <see cref="Cache"/>, then the next token.</summary>
    private protected int RunLmHeadStep(int token)
    {
        using var scope = NewDisposeScope();
        var hidden = Model!.ComputeHiddenStates(tensor(new long[] { token }), Cache);
        return Sample(hidden[0]);
    }

    private int Sample(Tensor hidden)
    {
        using var logits = _projector!.Project(hidden);
        return _pipeline.NextToken(logits, _random).TokenId;
    }

    private void CreatePrompt()
    {
        var random = new Random(12);
        PromptIds = [.. Enumerable.Range(0, SmallShape.MaxPositions).Select(_ => random.Next(SmallShape.VocabularySize))];
        _pipeline = new DecodingPipelineBuilder().UseTemperature(Temperature).UseTopK(TopK).Build();
        _random = new SamplingRandom(7);
    }

    /// <summary>Writes, converts and checks the weights once per process; the files are deleted when the process exits.</summary>
    private static RandomGpt2Checkpoint CreateCheckpoint()
    {
        var checkpoint = RandomGpt2Checkpoint.Create(SmallShape, seed: 11);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => checkpoint.Dispose();
        foreach (var type in RandomGpt2Checkpoint.Types)
        {
            Console.WriteLine($"// LlamaCppComparison: {LlamaCppAgreement.Check(checkpoint, type, promptLength: 16)}");
        }

        // The files (about 2.2 GB) are written back to disk by the kernel for seconds after they were written, and the
        // process's first case measured that: its iterations fell from 17.6 to 6.4 ms per step over two seconds (run AB).
        // Waiting for the write-back here keeps it out of every case.
        Sync();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return checkpoint;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "sync")]
    private static extern void Sync();
}
