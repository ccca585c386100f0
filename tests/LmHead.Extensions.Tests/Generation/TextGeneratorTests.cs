using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.Tests.Models;
using LmHead.Extensions.Tokenization;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Generation;

[TestClass]
public sealed class TextGeneratorTests
{
    private static Gpt2Model? s_random;

    private static Gpt2Model RandomModel => s_random!;

    [ClassInitialize]
    public static void CreateModel(TestContext context) =>
        s_random = TinyGpt2.CreateRandom(TinyGpt2.Config(vocabularySize: 50257) with { EosTokenId = null }, seed: 30);

    [ClassCleanup]
    public static void DisposeModel() => s_random?.Dispose();

    private static TextGenerator RandomGenerator() => new(RandomModel, Gpt2Tokenizer.Default);

    private static async Task<(List<GenerationChunk> Chunks, string Text)> StreamAsync(TextGenerator generator, string prompt, GenerationOptions options)
    {
        var chunks = new List<GenerationChunk>();
        await foreach (var chunk in generator.GenerateStreamingAsync(prompt, options))
        {
            chunks.Add(chunk);
        }

        return (chunks, string.Concat(chunks.Select(c => c.Text)));
    }

    [TestMethod]
    public async Task TheSameSeedGivesTheSameTextAndAnotherSeedAnotherText()
    {
        var generator = RandomGenerator();
        var options = new GenerationOptions { MaxNewTokens = 12, Decoding = new() { Temperature = 1f, TopK = null, Seed = 7 } };

        var first = await generator.GenerateAsync("The cat", options);
        var second = await generator.GenerateAsync("The cat", options);
        var other = await generator.GenerateAsync("The cat", options with { Decoding = options.Decoding with { Seed = 8 } });

        Assert.AreEqual(first.Text, second.Text);
        CollectionAssert.AreEqual(first.TokenIds.ToArray(), second.TokenIds.ToArray());
        CollectionAssert.AreNotEqual(first.TokenIds.ToArray(), other.TokenIds.ToArray());
    }

    [TestMethod]
    public async Task StreamedChunksAddUpToTheNonStreamingResult()
    {
        var generator = RandomGenerator();
        var options = new GenerationOptions { MaxNewTokens = 15, Decoding = new() { Temperature = 0.9f, TopK = 40, Seed = 3 } };

        var (chunks, streamed) = await StreamAsync(generator, "Once upon a time", options);
        var whole = await generator.GenerateAsync("Once upon a time", options);

        Assert.AreEqual(whole.Text, streamed);
        Assert.AreEqual(Gpt2Tokenizer.Default.Decode(whole.TokenIds), whole.Text);
        CollectionAssert.AreEqual(whole.TokenIds.ToArray(), chunks.SelectMany(c => c.TokenIds).ToArray());
        Assert.IsTrue(chunks.Take(chunks.Count - 1).All(c => c.FinishReason is null));
        Assert.AreEqual(FinishReason.Length, chunks[^1].FinishReason);
        Assert.AreEqual(15, whole.CompletionTokenCount);
        Assert.AreEqual(Gpt2Tokenizer.Default.EncodeToIds("Once upon a time").Count, whole.PromptTokenCount);
    }

    [TestMethod]
    public async Task AStopSequenceSpanningTokensEndsTheOutputBeforeItAndIsNeverStreamed()
    {
        var tokenizer = Gpt2Tokenizer.Default;
        const string Script = "Hello😀 world\n\nUser: hi there";
        var scriptIds = tokenizer.EncodeToIds(Script);
        Assert.IsGreaterThan(1, tokenizer.EncodeToIds("\n\nUser:").Count);
        using var model = ScriptedGpt2.Create(scriptIds, promptLength: tokenizer.EncodeToIds("x").Count);
        var generator = new TextGenerator(model, tokenizer);
        var options = new GenerationOptions { MaxNewTokens = 30, StopSequences = ["\n\nUser:"], Decoding = new() { Temperature = 0 } };

        var (chunks, streamed) = await StreamAsync(generator, "x", options);

        Assert.AreEqual("Hello😀 world", streamed);
        Assert.AreEqual(FinishReason.StopSequence, chunks[^1].FinishReason);
        Assert.IsFalse(chunks.Any(c => c.Text.Contains('\n', StringComparison.Ordinal) || c.Text.Contains('\uFFFD', StringComparison.Ordinal)));
        Assert.IsLessThan(scriptIds.Count, chunks[^1].CompletionTokenCount);
    }

    [TestMethod]
    public async Task AnEmojiSplitOverByteLevelTokensIsStreamedWholeAndEndOfTextStops()
    {
        var tokenizer = Gpt2Tokenizer.Default;
        const string Script = "Hi 😀 and 猫!";
        int[] scriptIds = [.. tokenizer.EncodeToIds(Script), Gpt2Tokenizer.EndOfTextTokenId, .. tokenizer.EncodeToIds(" after")];
        using var model = ScriptedGpt2.Create(scriptIds, promptLength: 1, endOfText: Gpt2Tokenizer.EndOfTextTokenId);
        var generator = new TextGenerator(model, tokenizer);

        var (chunks, streamed) = await StreamAsync(generator, "x", new GenerationOptions { MaxNewTokens = 30, Decoding = new() { Temperature = 0 } });

        Assert.AreEqual(Script, streamed);
        Assert.IsFalse(chunks.Any(c => c.Text.Contains('\uFFFD', StringComparison.Ordinal)));
        Assert.IsTrue(chunks.Any(c => c.Text.Length == 0), "some token ends inside a character, so its chunk must hold no text");
        Assert.AreEqual(FinishReason.EndOfText, chunks[^1].FinishReason);
        Assert.AreEqual(scriptIds.Length - tokenizer.EncodeToIds(" after").Count, chunks[^1].CompletionTokenCount);
    }

    [TestMethod]
    public async Task MaxNewTokensAndTheContextLimitEndWithLength()
    {
        var generator = RandomGenerator();
        string longPrompt = string.Join(' ', Enumerable.Repeat("word", 60));
        int promptTokens = Gpt2Tokenizer.Default.EncodeToIds(longPrompt).Count;
        Assert.AreEqual(60, promptTokens);

        var shortRun = await generator.GenerateAsync("Hi", new GenerationOptions { MaxNewTokens = 5, Decoding = new() { Seed = 1 } });
        var contextRun = await generator.GenerateAsync(longPrompt, new GenerationOptions { MaxNewTokens = 50, Decoding = new() { Seed = 1 } });
        var tooLong = await Assert.ThrowsExactlyAsync<ArgumentException>(
            () => generator.GenerateAsync(string.Join(' ', Enumerable.Repeat("word", 65)), new GenerationOptions()));

        Assert.AreEqual(FinishReason.Length, shortRun.FinishReason);
        Assert.AreEqual(5, shortRun.CompletionTokenCount);
        Assert.AreEqual(FinishReason.Length, contextRun.FinishReason);
        Assert.AreEqual(64 - 60 + 1, contextRun.CompletionTokenCount);
        Assert.Contains("n_positions", tooLong.Message);
    }

    [TestMethod]
    public async Task CancellationStopsWithinOneTokenAndThrowsOperationCanceledException()
    {
        var generator = RandomGenerator();
        using var cancellation = new CancellationTokenSource();
        int seen = 0;

        await Assert.ThrowsAsync<OperationCanceledException>(async () =>
        {
            await foreach (var chunk in generator.GenerateStreamingAsync("Hi", new GenerationOptions { MaxNewTokens = 40, Decoding = new() { Seed = 2 } }, cancellation.Token))
            {
                if (++seen == 3)
                {
                    await cancellation.CancelAsync();
                }
            }
        });

        Assert.AreEqual(3, seen);
    }

    [TestMethod]
    public async Task GeneratingLeavesNoTensorBehindAndTheLiveCountDoesNotGrowPerToken()
    {
        var generator = RandomGenerator();
        var options = new GenerationOptions { MaxNewTokens = 40, IncludeLogProbabilities = true, TopLogProbabilities = 3, Decoding = new() { Seed = 4 } };
        // Let the finalizers of tensors other tests dropped run now, not in the middle of the count.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = Tensor.TotalCount;
        var liveAt = new List<long>();
        int chunks = 0;

        // Counted between steps, on the scheduler's thread: the consumer reads while the next step runs, so a count taken
        // in the loop body would include that step's temporaries.
        generator.Scheduler.StepCompleted = _ => liveAt.Add(Tensor.TotalCount);
        try
        {
            await foreach (var chunk in generator.GenerateStreamingAsync("Hi", options))
            {
                chunks++;
            }
        }
        finally
        {
            generator.Scheduler.StepCompleted = null;
        }

        Assert.AreEqual(40, chunks);
        Assert.AreEqual(40, liveAt.Count);
        Assert.AreEqual(liveAt[5], liveAt[35]);
        Assert.AreEqual(before, Tensor.TotalCount);
    }

    [TestMethod]
    public async Task ConcurrentRequestsGiveTheSameTextsAsSequentialOnes()
    {
        var generator = RandomGenerator();
        var seeds = new ulong[] { 11, 12, 13, 14 };
        var options = seeds.Select(s => new GenerationOptions { MaxNewTokens = 10, Decoding = new() { Temperature = 1f, Seed = s } }).ToArray();

        var sequential = new List<string>();
        foreach (var o in options)
        {
            sequential.Add((await generator.GenerateAsync("A B C", o)).Text);
        }

        var concurrent = await Task.WhenAll(options.Select(o => Task.Run(() => generator.GenerateAsync("A B C", o))));

        CollectionAssert.AreEqual(sequential, concurrent.Select(r => r.Text).ToList());
    }

    [TestMethod]
    public async Task LogProbabilitiesAreThoseOfTheProcessedDistributionWithRawOnRequest()
    {
        var generator = RandomGenerator();
        var options = new GenerationOptions
        { MaxNewTokens = 3, IncludeLogProbabilities = true, TopLogProbabilities = 4, IncludeRawLogProbabilities = true, Decoding = new() { Temperature = 0.5f, TopK = 3, Seed = 4 } };
        var promptIds = Gpt2Tokenizer.Default.EncodeToIds("Hello there");
        using var ids = tensor(promptIds.Select(i => (long)i).ToArray());
        using var logits = RandomModel.ComputeLogits(ids);
        float[] last = logits[-1].data<float>().ToArray();
        var expected = Reference.Softmax(Reference.TopK(Reference.Scale(last, 0.5f), 3)).Select(p => Math.Log(p)).ToArray();
        var expectedRaw = Reference.Softmax(last).Select(p => Math.Log(p)).ToArray();

        var result = await generator.GenerateAsync("Hello there", options);

        var first = result.LogProbabilities[0];
        Assert.HasCount(3, result.LogProbabilities);
        Assert.IsTrue(double.IsFinite(expected[first.TokenId]), "the chosen token is in the top 3");
        Assert.AreEqual(expected[first.TokenId], first.LogProbability, 1e-4);
        Assert.AreEqual(expectedRaw[first.TokenId], first.RawLogProbability!.Value, 1e-4);
        Assert.HasCount(3, first.TopAlternatives, "top-k 3 leaves three possible tokens; removed ones (log-probability -infinity) are not listed");
        var byProcessed = expected.Select((v, i) => (v, i)).OrderByDescending(t => t.v).Take(3).ToArray();
        for (int a = 0; a < 3; a++)
        {
            Assert.AreEqual(byProcessed[a].i, first.TopAlternatives[a].TokenId);
            Assert.AreEqual(byProcessed[a].v, first.TopAlternatives[a].LogProbability, 1e-4);
            Assert.AreEqual(expectedRaw[byProcessed[a].i], first.TopAlternatives[a].RawLogProbability!.Value, 1e-4);
        }
    }

    [TestMethod]
    public async Task GreedyLogProbabilityIsZeroUnderTheProcessedDistribution()
    {
        var options = new GenerationOptions { MaxNewTokens = 2, IncludeLogProbabilities = true, Decoding = new() { Temperature = 0 } };
        var result = await RandomGenerator().GenerateAsync("Hello there", options);
        Assert.IsTrue(result.LogProbabilities.All(l => l.LogProbability == 0), "greedy draws with probability 1");
    }

    [TestMethod]
    public async Task TheCallersOptionsAreNeverChanged()
    {
        var stops = new List<string> { "zzz" };
        var options = new GenerationOptions { MaxNewTokens = 4, StopSequences = stops, Decoding = new() { Seed = 5 } };
        var copy = options with { };
        stops.Add("a");

        await RandomGenerator().GenerateAsync("Hi", options);

        Assert.AreEqual(copy, options);
        Assert.HasCount(1, options.StopSequences);
    }
}
