using BenchmarkDotNet.Attributes;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// Prompt processing of the GPT-2-small-shaped model, llama.cpp against this library on the same weights in F32 and F16
/// (see <see cref="LlamaCppComparison"/>): <see cref="PromptLength"/> tokens into an empty KV cache as one batch, up to
/// the first sampled token.
/// </summary>
/// <remarks>One warm-up and three measured iterations: this library's F16 prompt takes about a minute today.</remarks>
[InProcessLongOperationJob]
[WarmupCount(1)]
[IterationCount(3)]
public class VersusLlamaCppPromptBenchmarks : LlamaCppComparison
{
    /// <summary>The prompt length.</summary>
    public const int PromptLength = 512;

    [GlobalSetup(Target = nameof(LlamaCppPrompt))]
    public void SetupLlamaCpp() => CreateLlamaCpp();

    [GlobalSetup(Target = nameof(LmHeadPrompt))]
    public void SetupLmHead() => LoadLmHead();

    [IterationSetup(Target = nameof(LlamaCppPrompt))]
    public void ClearLlamaCppCache() => LlamaCpp!.Truncate(0);

    [IterationSetup(Target = nameof(LmHeadPrompt))]
    public void ClearLmHeadCache() => ResetLmHeadCache();

    /// <summary>llama.cpp: the prompt as one batch, then its sampler chain on the last position.</summary>
    [Benchmark(Baseline = true)]
    public int LlamaCppPrompt()
    {
        LlamaCpp!.Evaluate(PromptIds.AsSpan(0, PromptLength), 0);
        return LlamaCpp.Sample();
    }

    /// <summary>This library: <c>ComputeHiddenStates</c> of the prompt into an empty <c>Gpt2KvCache</c>, then the last position's projection and sampling.</summary>
    [Benchmark]
    public int LmHeadPrompt() => RunLmHeadPrompt(PromptLength);
}
