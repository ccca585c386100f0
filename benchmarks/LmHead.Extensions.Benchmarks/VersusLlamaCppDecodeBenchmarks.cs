using BenchmarkDotNet.Attributes;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// One decode step of the GPT-2-small-shaped model at position <see cref="Position"/>, llama.cpp against this library on
/// the same weights in F32 and F16 (see <see cref="LlamaCppComparison"/>): one token through the model with the KV
/// cache, the projection and sampling, the sampled token fed to the next step.
/// </summary>
/// <remarks>
/// An invocation is <see cref="StepsPerInvocation"/> consecutive steps (the time reported is per step). The cache is
/// filled with <see cref="Position"/> prompt tokens once, in the set-up, and grows by one token per step, so the
/// warm-up and the three iterations decode positions <see cref="Position"/> to <see cref="Position"/> + 31 in both
/// engines (refilling this library's F16 cache before every iteration would cost minutes per case today).
/// </remarks>
[InProcessLongOperationJob]
[WarmupCount(1)]
[IterationCount(3)]
public class VersusLlamaCppDecodeBenchmarks : LlamaCppComparison
{
    /// <summary>Decode steps per invocation.</summary>
    public const int StepsPerInvocation = 8;

    private int _position;

    /// <summary>The tokens in the cache before the first step (the warm-up's; the measured steps follow it).</summary>
    [Params(16, 128, 256, 512)]
    public int Position { get; set; }

    [GlobalSetup(Target = nameof(LlamaCppStep))]
    public void SetupLlamaCpp()
    {
        CreateLlamaCpp();
        LlamaCpp!.Evaluate(PromptIds.AsSpan(0, Position), 0);
        _position = Position;
    }

    [GlobalSetup(Target = nameof(LmHeadStep))]
    public void SetupLmHead()
    {
        LoadLmHead();
        RunLmHeadPrompt(Position);
        _position = Position;
    }

    /// <summary>llama.cpp: one token with its KV cache, then its sampler chain.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = StepsPerInvocation)]
    public int LlamaCppStep()
    {
        int token = PromptIds[_position];
        for (int step = 0; step < StepsPerInvocation; step++)
        {
            LlamaCpp!.Evaluate([token], _position++);
            token = LlamaCpp.Sample();
        }

        return token;
    }

    /// <summary>This library: <c>ComputeHiddenStates</c> of one token with a <c>Gpt2KvCache</c>, the projection, temperature + top-k sampling.</summary>
    [Benchmark(OperationsPerInvoke = StepsPerInvocation)]
    public int LmHeadStep()
    {
        int token = PromptIds[_position];
        for (int step = 0; step < StepsPerInvocation; step++, _position++)
        {
            token = RunLmHeadStep(token);
        }

        return token;
    }
}
