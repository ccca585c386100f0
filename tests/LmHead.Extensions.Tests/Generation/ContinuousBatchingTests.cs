using System.Collections.Concurrent;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.Tests.Models;
using LmHead.Extensions.Tokenization;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Generation;

/// <summary>
/// Concurrent requests share the model's steps (one model call per step, rows counted through the scheduler's test
/// hook, never timed) and each still gives exactly its solo output: tokens, text, finish reason and log-probabilities.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class ContinuousBatchingTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(3);
    private static Gpt2Model? s_model;

    private static Gpt2Model Model => s_model!;

    [ClassInitialize]
    public static void CreateModel(TestContext context) =>
        s_model = TinyGpt2.CreateRandom(TinyGpt2.Config(vocabularySize: 50257) with { MaxPositions = 320, EosTokenId = null }, seed: 41);

    [ClassCleanup]
    public static void DisposeModel() => s_model?.Dispose();

    /// <summary>A long prompt: 150 tokens, fed as chunks of 64, 64 and 22.</summary>
    private static readonly string s_longPrompt = string.Join(' ', Enumerable.Repeat("word", 150));

    /// <summary>Sixteen different requests: prompts, lengths, samplers, penalties, greedy, stops, log-probabilities.</summary>
    private static (string Prompt, GenerationOptions Options)[] SixteenRequests()
    {
        string[] prompts = ["The sea was", "Once upon a time", "A", "In the beginning the", "Numbers: 1, 2, 3,", "She said", "Why", "The quick brown fox"];
        var requests = new (string, GenerationOptions)[16];
        for (int i = 0; i < 15; i++)
        {
            var decoding = (i % 5) switch
            {
                0 => new DecodingOptions { Temperature = 1f, TopK = 40, Seed = (ulong)i },
                1 => new DecodingOptions { Temperature = 0.8f, TopK = null, TopP = 0.9f, Seed = (ulong)i },
                2 => new DecodingOptions { Temperature = 1.2f, TopK = 50, MinP = 0.05f, RepetitionPenalty = 1.3f, Seed = (ulong)i },
                3 => new DecodingOptions { Greedy = true, FrequencyPenalty = 0.5f, PresencePenalty = 0.3f },
                _ => new DecodingOptions { Temperature = 0.9f, TopK = 20, Seed = (ulong)i },
            };
            requests[i] = (prompts[i % prompts.Length] + new string('!', i % 3), new GenerationOptions
            {
                MaxNewTokens = 12 + (3 * i % 29),
                StopSequences = i % 4 == 1 ? ["e"] : [],
                IncludeLogProbabilities = i % 3 == 0,
                TopLogProbabilities = i % 6 == 0 ? 3 : 0,
                IncludeRawLogProbabilities = i % 6 == 0,
                Decoding = decoding,
            });
        }

        requests[15] = (s_longPrompt, new GenerationOptions { MaxNewTokens = 20, IncludeLogProbabilities = true, Decoding = new() { Temperature = 1f, TopK = 30, Seed = 99 } });
        return requests;
    }

    private static async Task<List<GenerationChunk>> CollectAsync(
        TextGenerator generator, string prompt, GenerationOptions options, int cancelAfter = int.MaxValue, ConcurrentBag<List<GenerationChunk>>? partial = null)
    {
        var chunks = new List<GenerationChunk>();
        using var cancellation = new CancellationTokenSource();
        try
        {
            await foreach (var chunk in generator.GenerateStreamingAsync(prompt, options, cancellation.Token))
            {
                chunks.Add(chunk);
                if (chunks.Count == cancelAfter)
                {
                    await cancellation.CancelAsync();
                }
            }
        }
        catch (OperationCanceledException)
        {
            partial?.Add(chunks);
            throw;
        }

        return chunks;
    }

    private static void AssertSameChunks(List<GenerationChunk> expected, List<GenerationChunk> actual, string what)
    {
        Assert.HasCount(expected.Count, actual, what);
        for (int c = 0; c < expected.Count; c++)
        {
            Assert.AreEqual(expected[c].Text, actual[c].Text, $"{what}, chunk {c}");
            CollectionAssert.AreEqual(expected[c].TokenIds.ToArray(), actual[c].TokenIds.ToArray(), $"{what}, chunk {c}");
            Assert.AreEqual(expected[c].FinishReason, actual[c].FinishReason, $"{what}, chunk {c}");
            Assert.HasCount(expected[c].LogProbabilities.Count, actual[c].LogProbabilities, $"{what}, chunk {c}");
            for (int l = 0; l < expected[c].LogProbabilities.Count; l++)
            {
                var (e, a) = (expected[c].LogProbabilities[l], actual[c].LogProbabilities[l]);
                Assert.AreEqual(e.LogProbability, a.LogProbability, $"{what}, chunk {c}: log-probabilities must be bit-identical");
                Assert.AreEqual(e.RawLogProbability, a.RawLogProbability, $"{what}, chunk {c}");
                CollectionAssert.AreEqual(e.TopAlternatives.ToArray(), a.TopAlternatives.ToArray(), $"{what}, chunk {c}");
            }
        }
    }

    [TestMethod]
    [Timeout(600_000, CooperativeCancellation = true)]
    public async Task EachRequestGivesItsSoloOutputBesideFifteenOthersWithALongPromptJoiningMidway()
    {
        var generator = new TextGenerator(Model, Gpt2Tokenizer.Default);
        var requests = SixteenRequests();
        const int Canceled = 7, CancelAfter = 3;
        var solo = new List<GenerationChunk>[requests.Length];
        for (int i = 0; i < requests.Length; i++)
        {
            solo[i] = await CollectAsync(generator, requests[i].Prompt, requests[i].Options);
        }

        Assert.IsGreaterThanOrEqualTo(2, solo.Count(s => s[^1].FinishReason == FinishReason.StopSequence), "some requests must stop early on a stop sequence");
        Assert.IsGreaterThan(CancelAfter + 1, solo[Canceled].Count, "the canceled request must have more to say");

        var steps = new ConcurrentQueue<int[]>();
        var decoding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        generator.Scheduler.StepCompleted = fed =>
        {
            steps.Enqueue([.. fed]);
            if (fed.Count >= 10)
            {
                decoding.TrySetResult();
            }
        };
        var partial = new ConcurrentBag<List<GenerationChunk>>();
        try
        {
            var shortOnes = Enumerable.Range(0, 15).Select(i => Task.Run(() =>
                CollectAsync(generator, requests[i].Prompt, requests[i].Options, i == Canceled ? CancelAfter : int.MaxValue, partial))).ToList();

            // The long prompt joins once at least ten requests decode together, so its chunks are fed beside them.
            await decoding.Task.WaitAsync(Deadline);
            var longOne = CollectAsync(generator, requests[15].Prompt, requests[15].Options);
            var together = new List<GenerationChunk>?[16];
            for (int i = 0; i < 15; i++)
            {
                if (i == Canceled)
                {
                    await Assert.ThrowsAsync<OperationCanceledException>(() => shortOnes[i].WaitAsync(Deadline));
                }
                else
                {
                    together[i] = await shortOnes[i].WaitAsync(Deadline);
                }
            }

            together[15] = await longOne.WaitAsync(Deadline);
            for (int i = 0; i < 16; i++)
            {
                if (i != Canceled)
                {
                    AssertSameChunks(solo[i], together[i]!, $"request {i}");
                }
            }

            var canceledChunks = partial.Single();
            Assert.HasCount(CancelAfter, canceledChunks);
            AssertSameChunks(solo[Canceled].Take(CancelAfter).ToList(), canceledChunks, "the canceled request's prefix");
        }
        finally
        {
            generator.Scheduler.StepCompleted = null;
        }

        int[][] observed = [.. steps];
        Assert.IsTrue(observed.All(step => step.All(tokens => tokens is >= 1 and <= 64)), "a row feeds one token or a chunk of at most 64");
        Assert.IsTrue(observed.Any(step => step.Contains(64) && step.Count(tokens => tokens == 1) >= 5), "a chunk of the long prompt ran in one step beside decoding requests");
        int[] wide = [.. observed.SelectMany(step => step).Where(tokens => tokens > 30)];
        CollectionAssert.AreEqual(new[] { 64, 64 }, wide, "the 150-token prompt was fed as 64 + 64 + 22, and only it has chunks that long");
        Assert.IsTrue(observed.Any(step => step.Contains(22)), "the last chunk of the long prompt");
    }

    [TestMethod]
    [Timeout(600_000, CooperativeCancellation = true)]
    public async Task LongPromptsArrivingTogetherShareOneChunkOfPromptPerStep()
    {
        var generator = new TextGenerator(Model, Gpt2Tokenizer.Default);
        string[] prompts = [.. Enumerable.Range(0, 8).Select(i => i % 2 == 0 ? s_longPrompt : $"Short request {i}")];
        var options = Enumerable.Range(0, 8).Select(i => new GenerationOptions { MaxNewTokens = 10, Decoding = new() { Seed = (ulong)i } }).ToArray();
        var solo = new List<GenerationChunk>[8];
        for (int i = 0; i < 8; i++)
        {
            solo[i] = await CollectAsync(generator, prompts[i], options[i]);
        }

        var steps = new ConcurrentQueue<int[]>();
        generator.Scheduler.StepCompleted = fed => steps.Enqueue([.. fed]);
        List<GenerationChunk>[] together;
        try
        {
            var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var tasks = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
            {
                await go.Task;
                return await CollectAsync(generator, prompts[i], options[i]);
            })).ToArray();
            go.SetResult();
            together = await Task.WhenAll(tasks).WaitAsync(Deadline);
        }
        finally
        {
            generator.Scheduler.StepCompleted = null;
        }

        for (int i = 0; i < 8; i++)
        {
            AssertSameChunks(solo[i], together[i], $"request {i}");
        }

        int[][] observed = [.. steps];
        Assert.IsTrue(observed.All(step => step.Where(tokens => tokens > 1).Sum() <= GenerationScheduler.PrefillChunkSize),
            "no step feeds more than one chunk's worth of prompt tokens, however many prompts wait");
        Assert.AreEqual(8, observed.Sum(step => step.Count(tokens => tokens == 64)), "four 150-token prompts, two full chunks each");
        Assert.AreEqual(4, observed.Sum(step => step.Count(tokens => tokens == 22)), "and one chunk of 22 each");
    }

    [TestMethod]
    [Timeout(600_000, CooperativeCancellation = true)]
    public async Task EightRequestsShareEachModelCall()
    {
        using var model = TinyGpt2.CreateRandom(TinyGpt2.Config(vocabularySize: 50257) with { EosTokenId = null }, seed: 42);
        var generator = new TextGenerator(model, Gpt2Tokenizer.Default);
        const int Requests = 8, Tokens = 24;
        var rows = new ConcurrentQueue<int>();
        generator.Scheduler.StepCompleted = fed => rows.Enqueue(fed.Count);
        var first = new CountdownEvent(Requests);
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            var tasks = Enumerable.Range(0, Requests).Select(i => Task.Run(async () =>
            {
                int count = 0;
                await foreach (var chunk in generator.GenerateStreamingAsync($"Request {i}", new GenerationOptions { MaxNewTokens = Tokens, Decoding = new() { Seed = (ulong)i } }))
                {
                    if (++count == 1)
                    {
                        // Every request is in before any goes on, so all eight are active together.
                        first.Signal();
                        await go.Task;
                    }
                }

                return count;
            })).ToArray();
            Assert.IsTrue(first.Wait(Deadline), "the requests did not start");
            go.SetResult();
            int[] counts = await Task.WhenAll(tasks).WaitAsync(Deadline);
            Assert.IsTrue(counts.All(c => c == Tokens));
        }
        finally
        {
            generator.Scheduler.StepCompleted = null;
            first.Dispose();
        }

        int[] perCall = [.. rows];
        Assert.AreEqual(Requests * Tokens, perCall.Sum(), "one row per request per token: nothing computed twice or skipped");
        Assert.AreEqual(Requests, perCall.Max(), "some model call carried all eight requests");
        Assert.IsLessThanOrEqualTo(Requests * Tokens / 4, perCall.Length, $"{perCall.Length} model calls for {Requests * Tokens} rows: the requests were not batched");
    }

    [TestMethod]
    [Timeout(600_000, CooperativeCancellation = true)]
    public async Task ManyConcurrentRequestsLeaveNoTensorBehind()
    {
        var generator = new TextGenerator(Model, Gpt2Tokenizer.Default);
        var options = new GenerationOptions { MaxNewTokens = 30, IncludeLogProbabilities = true, TopLogProbabilities = 2, Decoding = new() { Seed = 5 } };
        await generator.GenerateAsync("warm up", options with { MaxNewTokens = 2 });
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = Tensor.TotalCount;

        for (int round = 0; round < 3; round++)
        {
            using var cancellation = new CancellationTokenSource();
            var tasks = Enumerable.Range(0, 12).Select(i => Task.Run(async () =>
            {
                int count = 0;
                await foreach (var chunk in generator.GenerateStreamingAsync(i % 4 == 0 ? s_longPrompt : $"Round {round} request {i}", options, i == 3 ? cancellation.Token : default))
                {
                    if (++count == 5 && i == 3)
                    {
                        await cancellation.CancelAsync();
                    }

                    if (count == 7 && i == 5)
                    {
                        break; // a consumer that stops reading and disposes its enumerator
                    }
                }
            })).ToArray();
            foreach (var task in tasks)
            {
                try
                {
                    await task.WaitAsync(Deadline);
                }
                catch (OperationCanceledException)
                {
                }
            }
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.AreEqual(before, Tensor.TotalCount, "finished, canceled and abandoned requests must free their caches and every step its temporaries");
    }
}
