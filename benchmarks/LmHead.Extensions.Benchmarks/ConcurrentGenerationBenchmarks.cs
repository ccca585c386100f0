using BenchmarkDotNet.Attributes;
using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.Tokenization;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// Aggregate throughput of concurrent seeded generations on a GPT-2-small-shaped model (124M parameters, random
/// weights, fp32): <see cref="Streams"/> requests of <see cref="TokensPerStream"/> tokens each, all at once through one
/// <see cref="TextGenerator"/> (continuous batching: one model call per step for every stream) or one after another.
/// Aggregate tokens/s = Streams × TokensPerStream / Mean. One warm-up and five measured iterations: the first run of
/// an operation pays for JIT compilation and the first allocations.
/// </summary>
[InProcessLongOperationJob]
[WarmupCount(1)]
[IterationCount(5)]
public class ConcurrentGenerationBenchmarks
{
    /// <summary>New tokens per stream (no end-of-text token, so every stream runs to the limit).</summary>
    public const int TokensPerStream = 16;

    /// <summary>New tokens per stream of the calls; <see cref="TokensPerStream"/> in the benchmark, longer in <c>--profile-batch pairs R N</c>.</summary>
    internal static int NewTokens { get; set; } = TokensPerStream;

    private Gpt2Model _model = null!;
    private TextGenerator _generator = null!;

    /// <summary>The model, for profiles that watch its scheduler (BatchProfile).</summary>
    internal Gpt2Model Model => _model;

    /// <summary>How many generations run.</summary>
    [Params(1, 4, 8, 16)]
    public int Streams { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var config = new Gpt2Config { HiddenSize = 768, LayerCount = 12, HeadCount = 12, VocabularySize = 50257, MaxPositions = 1024, EosTokenId = null };
        _model = new Gpt2Model(config);
        using (no_grad())
        {
            var generator = new Generator(11);
            foreach (var (name, parameter) in _model.named_parameters())
            {
                if (!name.Contains(".ln_", StringComparison.Ordinal))
                {
                    using var noise = randn(parameter.shape, generator: generator);
                    parameter.copy_(noise.mul_(0.02));
                }
            }
        }

        _generator = new TextGenerator(_model, Gpt2Tokenizer.Default);
        WarmUp();
    }

    /// <summary>
    /// Runs the case until the JIT is done with it: for the first seconds of a process the runtime recompiles hundreds of
    /// methods at tier 1 on a background thread (about 1 s of JIT time per 16-token call on this machine, --profile-batch
    /// lone), which takes one of the two cores from the step's workers. Without this the process's first case (Concurrent,
    /// 1 stream) absorbed it and measured 1.3-1.5x slower than the same request in the next case (runs P, T).
    /// </summary>
    private void WarmUp()
    {
        for (int round = 0; round < 12; round++)
        {
            long methods = System.Runtime.JitInfo.GetCompiledMethodCount();
            Concurrent().GetAwaiter().GetResult();
            if (System.Runtime.JitInfo.GetCompiledMethodCount() - methods < 20)
            {
                return;
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _model.Dispose();

    private static GenerationOptions Options(int stream) =>
        new() { MaxNewTokens = NewTokens, Decoding = new() { Temperature = 0.7f, TopK = 50, Seed = (ulong)stream } };

    private static string Prompt(int stream) => $"Request {stream}: once upon a time there was";

    /// <summary>Every stream at once: the scheduler batches them into shared steps.</summary>
    [Benchmark]
    public async Task<int> Concurrent()
    {
        var results = await Task.WhenAll(Enumerable.Range(0, Streams).Select(i => _generator.GenerateAsync(Prompt(i), Options(i))));
        return results.Sum(r => r.CompletionTokenCount);
    }

    /// <summary>The same streams one after another (each step then carries one request).</summary>
    [Benchmark(Baseline = true)]
    public async Task<int> Serialised()
    {
        int tokens = 0;
        for (int i = 0; i < Streams; i++)
        {
            tokens += (await _generator.GenerateAsync(Prompt(i), Options(i))).CompletionTokenCount;
        }

        return tokens;
    }
}
