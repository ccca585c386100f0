using BenchmarkDotNet.Attributes;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// One decode step of the GPT-2-small-shaped model at position <see cref="Position"/>, llama.cpp against this library on
/// the same weights in F32 and F16 (see <see cref="LlamaCppComparison"/>): one token through the model with the KV
/// cache, the projection and sampling, the sampled token fed to the next step.
/// </summary>
/// <remarks>
/// An invocation is <see cref="StepsPerInvocation"/> consecutive steps (the time reported is per step). The cache is
/// filled with <see cref="Position"/> prompt tokens once, in the set-up, and cut back to <see cref="Position"/> tokens
/// before every iteration (<see cref="Rewind"/>: llama.cpp's sequence removal, our cache's length), so every iteration of
/// both engines decodes positions <see cref="Position"/> to <see cref="Position"/> + 7. Fifteen iterations: on a host
/// whose read rate moves by half within a minute, seven 70-ms iterations made a median that moved by 10-20 % from run to
/// run (run AB).
/// </remarks>
[InProcessLongOperationJob]
[WarmupCount(2)]
[IterationCount(15)]
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
        WarmUpLmHead();
        _position = Position;
    }

    /// <summary>
    /// Steps until the JIT is done with the decode path, then rewinds the cache to <see cref="Position"/>: for the first
    /// seconds of the process the runtime recompiles the step's methods at tier 1 on a background thread, which takes
    /// one of the two cores from the step's workers, and the process's first cases (position 16) absorbed it (run X: our
    /// bfloat16 step 20.7 ms at position 16 against 16.5 ms at 128). The same fix as ConcurrentGenerationBenchmarks.
    /// </summary>
    private void WarmUpLmHead()
    {
        int token = PromptIds[Position];
        for (int round = 0; round < 12; round++)
        {
            long methods = System.Runtime.JitInfo.GetCompiledMethodCount();
            for (int step = 0; step < StepsPerInvocation; step++)
            {
                token = RunLmHeadStep(token);
            }

            Cache!.Rewind(Position);
            token = PromptIds[Position];
            // At least four rounds: the process's first case (float16 at position 16) still measured 1.2-1.46x its step at
            // position 128 with one (run Y), while the other dtypes' first cases did not.
            if (round >= 3 && System.Runtime.JitInfo.GetCompiledMethodCount() - methods < 5)
            {
                return;
            }
        }
    }

    /// <summary>Both engines' caches back to <see cref="Position"/> tokens, so that each iteration decodes the same positions.</summary>
    [IterationSetup]
    public void Rewind()
    {
        LlamaCpp?.Truncate(Position);
        Cache?.Rewind(Position);
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
