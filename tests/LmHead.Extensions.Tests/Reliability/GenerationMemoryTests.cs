using System.Diagnostics;
using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.Tests.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Reliability;

/// <summary>
/// A 2,000-token generation and 1,000 short generations in a row keep memory flat: the live-tensor count returns to its
/// baseline exactly and the resident set grows by far less than a leak of one tensor per token would cost. Figures are
/// written to the test output (and copied into docs/reliability.md); only the tensor count and a generous resident-set
/// bound are asserted, never the time.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class GenerationMemoryTests
{
    /// <summary>Resident-set growth allowed over a whole run; a leak of the step's activations would be far above it.</summary>
    private const long ResidentGrowthLimit = 256L << 20;

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [Timeout(600_000, CooperativeCancellation = true)]
    public async Task AGenerationOf2000TokensKeepsMemoryFlat()
    {
        using var pretrained = Gpt2Pretrained.Load(TinyGpt2.CreateFolder(CancellationAndDisposalTests.LongContextConfig(), seed: 5));
        var generator = new TextGenerator(pretrained);
        await generator.GenerateAsync("warm up", new GenerationOptions { MaxNewTokens = 50, Decoding = new() { Seed = 1 } });
        var before = Measure();

        long peakTensors = 0;
        var midway = before;
        int tokens = 0;
        await foreach (var chunk in generator.GenerateStreamingAsync("Once", new GenerationOptions { MaxNewTokens = 2000, Decoding = new() { Seed = 2 } }))
        {
            tokens = chunk.CompletionTokenCount;
            peakTensors = Math.Max(peakTensors, Tensor.TotalCount);
            if (tokens == 1000)
            {
                midway = Measure(collect: false);
            }
        }

        var after = Measure();
        Report("2,000-token generation", before, after, $"tokens {tokens}; live tensors at most {peakTensors} during the run; resident at token 1,000: {midway.ResidentBytes >> 20} MiB");
        Assert.AreEqual(2000, tokens);
        Assert.AreEqual(before.Tensors, after.Tensors, "the generation left tensors alive");
        Assert.IsLessThan(before.Tensors + 200, peakTensors, "the live-tensor count grew with the number of tokens");
        Assert.IsLessThan(ResidentGrowthLimit, after.ResidentBytes - before.ResidentBytes);
    }

    [TestMethod]
    [Timeout(600_000, CooperativeCancellation = true)]
    public async Task AThousandShortGenerationsInARowKeepMemoryFlat()
    {
        using var pretrained = Gpt2Pretrained.Load(TinyGpt2.CreateFolder(CancellationAndDisposalTests.LongContextConfig(), seed: 6));
        var generator = new TextGenerator(pretrained);
        var options = new GenerationOptions { MaxNewTokens = 4, IncludeLogProbabilities = true, TopLogProbabilities = 3 };
        for (int i = 0; i < 20; i++)
        {
            await generator.GenerateAsync("warm up", options with { Decoding = options.Decoding with { Seed = (ulong)i } });
        }

        var before = Measure();
        var afterHundred = before;
        for (int i = 0; i < 1000; i++)
        {
            await generator.GenerateAsync("Request " + i, options with { Decoding = options.Decoding with { Seed = (ulong)i } });
            if (i == 99)
            {
                afterHundred = Measure();
            }
        }

        var after = Measure();
        Report("1,000 short generations", before, after, $"resident after 100: {afterHundred.ResidentBytes >> 20} MiB");
        Assert.AreEqual(before.Tensors, after.Tensors, "the generations left tensors alive");
        Assert.IsLessThan(ResidentGrowthLimit, after.ResidentBytes - before.ResidentBytes);
    }

    private void Report(string name, Snapshot before, Snapshot after, string extra) =>
        TestContext.WriteLine(
            $"{name}: resident {before.ResidentBytes >> 20} → {after.ResidentBytes >> 20} MiB ({(after.ResidentBytes - before.ResidentBytes) / 1024.0 / 1024:+0.0;-0.0} MiB); " +
            $"managed heap {before.ManagedBytes / 1024} → {after.ManagedBytes / 1024} KiB; live tensors {before.Tensors} → {after.Tensors}; {extra}; {(after.Elapsed - before.Elapsed).TotalSeconds:0.0} s");

    private static readonly Stopwatch s_clock = Stopwatch.StartNew();

    private static Snapshot Measure(bool collect = true)
    {
        if (collect)
        {
            CancellationAndDisposalTests.Collect();
        }

        return new Snapshot(ResidentBytes(), GC.GetTotalMemory(false), Tensor.TotalCount, s_clock.Elapsed);
    }

    /// <summary>The resident set from /proc/self/statm (pages × page size) where there is one, else the working set.</summary>
    private static long ResidentBytes()
    {
        if (File.Exists("/proc/self/statm"))
        {
            string[] fields = File.ReadAllText("/proc/self/statm").Split(' ');
            return long.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture) * Environment.SystemPageSize;
        }

        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }

    private readonly record struct Snapshot(long ResidentBytes, long ManagedBytes, long Tensors, TimeSpan Elapsed);
}
