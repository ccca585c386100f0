using System.Text.Json.Nodes;
using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.Tests.Models;
using LmHead.Extensions.Tokenization;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Generation;

/// <summary>
/// <see cref="GenerationOptions.ContextOverflow"/>: by default a prompt longer than the context is an error and generation
/// ends when the context is full; with the sliding window a long prompt keeps its last tokens and generation runs past
/// the context, each token equal to a greedy reference written here with full recomputes (no cache) of the window the
/// policy documents.
/// </summary>
[TestClass]
public sealed class ContextOverflowTests
{
    private const int Context = 64;   // TinyGpt2's n_positions
    private static Gpt2Model? s_model;

    [ClassInitialize]
    public static void CreateModel(TestContext context) =>
        s_model = TinyGpt2.CreateRandom(TinyGpt2.Config(vocabularySize: 50257) with { EosTokenId = null }, seed: 41);

    [ClassCleanup]
    public static void DisposeModel() => s_model?.Dispose();

    private static TextGenerator Generator() => new(s_model!, Gpt2Tokenizer.Default);

    private static readonly GenerationOptions Greedy = new() { Decoding = new() { Greedy = true } };

    private static string LongPrompt(int minTokens)
    {
        var words = new List<string>();
        int i = 0;
        while (Gpt2Tokenizer.Default.CountTokens(string.Join(' ', words)) < minTokens)
        {
            words.Add(i++ % 3 == 0 ? "Romeo" : i % 3 == 1 ? "loves" : "Juliet,");
        }

        return string.Join(' ', words);
    }

    /// <summary>Greedy decoding of the policy's windows by full recomputes: the independent reference.</summary>
    private static List<int> ReferenceSlidingGreedy(int[] prompt, int count)
    {
        int[] all = prompt.Length > Context - (Context / 4) ? prompt[^(Context - (Context / 4))..] : prompt;
        var window = new List<int>(all);
        var history = new List<int>(all);
        var generated = new List<int>();
        while (generated.Count < count)
        {
            using var scope = NewDisposeScope();
            using var ids = tensor(window.Select(t => (long)t).ToArray());
            var logits = s_model!.ComputeLogits(ids)[-1];
            int next = (int)logits.argmax().item<long>();
            generated.Add(next);
            history.Add(next);
            if (window.Count == Context)
            {
                window = history[^(Context / 2)..];
            }
            else
            {
                window.Add(next);
            }
        }

        return generated;
    }

    [TestMethod]
    public async Task ByDefaultALongPromptIsAnErrorNamingThePolicy()
    {
        var ex = await Assert.ThrowsExactlyAsync<ArgumentException>(() => Generator().GenerateAsync(LongPrompt(Context + 5), Greedy));
        StringAssert.Contains(ex.Message, "n_positions = 64");
        StringAssert.Contains(ex.Message, "context_overflow");
    }

    [TestMethod]
    public async Task ByDefaultGenerationEndsWhenTheContextIsFull()
    {
        string prompt = LongPrompt(40);
        int promptTokens = Gpt2Tokenizer.Default.CountTokens(prompt);
        var result = await Generator().GenerateAsync(prompt, Greedy with { MaxNewTokens = 200 });
        Assert.AreEqual(FinishReason.Length, result.FinishReason);
        Assert.AreEqual(Context - promptTokens + 1, result.CompletionTokenCount);
    }

    [TestMethod]
    public async Task WithTheSlidingWindowALongPromptKeepsItsLastTokens()
    {
        string prompt = LongPrompt(Context + 30);
        int[] ids = [.. Gpt2Tokenizer.Default.EncodeToIds(prompt)];
        var options = Greedy with { MaxNewTokens = 10, ContextOverflow = ContextOverflow.SlidingWindow };

        var result = await Generator().GenerateAsync(prompt, options);

        Assert.AreEqual(Context - (Context / 4), result.PromptTokenCount, "The prompt keeps its last n_positions - n_positions/4 tokens.");
        CollectionAssert.AreEqual(ReferenceSlidingGreedy(ids, 10), result.TokenIds.ToArray());
    }

    [TestMethod]
    public async Task WithTheSlidingWindowGenerationRunsPastTheContextAndEachTokenMatchesTheReference()
    {
        string prompt = LongPrompt(20);
        int[] ids = [.. Gpt2Tokenizer.Default.EncodeToIds(prompt)];
        const int Count = 3 * Context;   // several slides
        var options = Greedy with { MaxNewTokens = Count, ContextOverflow = ContextOverflow.SlidingWindow };

        var result = await Generator().GenerateAsync(prompt, options);

        Assert.AreEqual(FinishReason.Length, result.FinishReason);
        Assert.AreEqual(Count, result.CompletionTokenCount);
        CollectionAssert.AreEqual(ReferenceSlidingGreedy(ids, Count), result.TokenIds.ToArray());
    }

    [TestMethod]
    public async Task ASlidingRequestBesideOthersGivesItsSoloOutput()
    {
        var generator = Generator();
        var sliding = new GenerationOptions { MaxNewTokens = 150, ContextOverflow = ContextOverflow.SlidingWindow, Decoding = new() { Seed = 5 } };
        var solo = await generator.GenerateAsync("But soft", sliding);
        var others = Enumerable.Range(0, 5).Select(i => generator.GenerateAsync($"What light {i}", new GenerationOptions { MaxNewTokens = 30, Decoding = new() { Seed = (ulong)i } })).ToList();
        var beside = await generator.GenerateAsync("But soft", sliding);
        await Task.WhenAll(others);
        CollectionAssert.AreEqual(solo.TokenIds.ToArray(), beside.TokenIds.ToArray());
    }

    [TestMethod]
    public void ThePolicyIsAnOptionWithSnakeCaseJson()
    {
        var options = GenerationOptionsJson.Read(new JsonObject { ["context_overflow"] = "sliding_window", ["max_tokens"] = 5 });
        Assert.AreEqual(ContextOverflow.SlidingWindow, options.ContextOverflow);
        Assert.AreEqual("sliding_window", GenerationOptionsJson.Write(options)["context_overflow"]!.GetValue<string>());
        Assert.AreEqual(ContextOverflow.Error, new GenerationOptions().ContextOverflow);

        var ex = Assert.ThrowsExactly<ArgumentException>(() => GenerationOptionsJson.Read(new JsonObject { ["context_overflow"] = "truncate" }));
        StringAssert.Contains(ex.Message, "context_overflow");
        StringAssert.Contains(ex.Message, "sliding_window");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new GenerationOptions { ContextOverflow = (ContextOverflow)7 });
    }
}
