using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;
using LmHead.Extensions.Decoding.Grammar;
using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.Tests.Models;
using LmHead.Extensions.Tokenization;

namespace LmHead.Extensions.Tests.Generation;

[TestClass]
public sealed class ConstrainedGenerationTests
{
    private const string Schema = """
        {"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer","minimum":0,"maximum":120},
         "tags":{"type":"array","items":{"enum":["a","b","ü"]},"maxItems":3},"ok":{"type":"boolean"}},"required":["name","age","ok"],"additionalProperties":false}
        """;

    private static Gpt2Model? s_model;

    [ClassInitialize]
    public static void CreateModel(TestContext context) =>
        s_model = TinyGpt2.CreateRandom(TinyGpt2.Config(vocabularySize: Gpt2Tokenizer.VocabularySize) with { EosTokenId = Gpt2Tokenizer.EndOfTextTokenId, MaxPositions = 128 }, seed: 12);

    [ClassCleanup]
    public static void DisposeModel() => s_model?.Dispose();

    [TestMethod]
    public async Task GenerationWithTheGpt2VocabularyFollowsTheSchemaAndEndsWhenTheGrammarIsComplete()
    {
        var generator = new TextGenerator(s_model!, Gpt2Tokenizer.Default);
        var validator = JsonSchema.FromText(Schema);
        int complete = 0;
        for (ulong seed = 1; seed <= 6; seed++)
        {
            var options = new GenerationOptions
            {
                MaxNewTokens = 100,
                OutputConstraint = OutputConstraint.JsonSchema(Schema),
                Decoding = new() { Temperature = 0.8f, TopK = 40, Seed = seed },
            };
            var result = await generator.GenerateAsync("Person:", options);
            if (result.FinishReason == FinishReason.Length)
            {
                Assert.IsTrue(CompiledGrammar.For(options.OutputConstraint).AcceptsPrefix(result.Text), result.Text);
                continue;
            }

            complete++;
            Assert.AreEqual(FinishReason.GrammarComplete, result.FinishReason, result.Text);
            using var document = JsonDocument.Parse(result.Text);
            Assert.IsTrue(validator.Evaluate(document.RootElement).IsValid, result.Text);
        }

        Assert.IsGreaterThan(0, complete, "some generations completed within the token budget");
    }

    [TestMethod]
    public async Task OtherStreamsKeepDecodingWhileANewSchemaWarmsUp()
    {
        // A schema no other test compiled, so its token tables are cold; its background warm-up is held at a gate, and
        // an unconstrained stream must run to its end meanwhile (steps counted, nothing timed: were the warm-up on the
        // step thread, the stream could not advance and the cancellation below would fail the test).
        var fresh = OutputConstraint.JsonSchema(Schema.Replace("\"additionalProperties\":false", $"\"additionalProperties\":false,\"title\":\"{Guid.NewGuid()}\"", StringComparison.Ordinal));
        var grammar = CompiledGrammar.For(fresh);
        var generator = new TextGenerator(s_model!, Gpt2Tokenizer.Default);
        using var gate = new ManualResetEventSlim(false);
        int warmUps = 0;
        GrammarConstraint.BackgroundWarmStarting = g =>
        {
            if (ReferenceEquals(g, grammar))
            {
                Interlocked.Increment(ref warmUps);
                gate.Wait();
            }
        };
        try
        {
            var options = new GenerationOptions { MaxNewTokens = 80, OutputConstraint = fresh, Decoding = new() { Temperature = 0.8f, Seed = 5 } };
            var constrained = generator.GenerateAsync("Person:", options);
            Assert.IsTrue(SpinWait.SpinUntil(() => Volatile.Read(ref warmUps) > 0, TimeSpan.FromMinutes(2)), "the constrained request's tables are built off the step thread");

            using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            int tokens = 0;
            FinishReason? finish = null;
            await foreach (var chunk in generator.GenerateStreamingAsync("Once upon a time", new GenerationOptions { MaxNewTokens = 30, Decoding = new() { Seed = 3 } }, cancel.Token))
            {
                tokens += chunk.TokenIds.Count;
                finish = chunk.FinishReason ?? finish;
            }

            Assert.IsNotNull(finish, "the unconstrained stream ran to its end");
            Assert.IsGreaterThanOrEqualTo(10, tokens, "the unconstrained stream kept decoding");
            Assert.IsFalse(constrained.IsCompleted, "the constrained request waits for its tables");
            Assert.AreEqual(1, Volatile.Read(ref warmUps), "one warm-up at a time per request");

            gate.Set();
            var result = await constrained;
            Assert.IsTrue(result.FinishReason is FinishReason.GrammarComplete or FinishReason.Length, $"{result.FinishReason}");
            Assert.IsTrue(result.FinishReason == FinishReason.Length ? grammar.AcceptsPrefix(result.Text) : grammar.Accepts(result.Text), result.Text);
        }
        finally
        {
            GrammarConstraint.BackgroundWarmStarting = null;
            gate.Set();
        }
    }

    [TestMethod]
    public async Task TheTensorPathGivesTheSameConstrainedTextAsTheFastPath()
    {
        var generator = new TextGenerator(s_model!, Gpt2Tokenizer.Default);
        var options = new GenerationOptions
        {
            MaxNewTokens = 40,
            OutputConstraint = OutputConstraint.Json(),
            Decoding = new() { Temperature = 1f, TopK = 20, Seed = 5 },
        };
        var fast = await generator.GenerateAsync("x", options);
        var tensorPipeline = options.BuildPipeline(Gpt2Tokenizer.Default, Gpt2Tokenizer.EndOfTextTokenId);
        tensorPipeline.UseCpuFastPath = false;

        // The fixed pipeline carries the constraint already, so the options must not set it again.
        var slow = await generator.GenerateAsync("x", new GenerationOptions { MaxNewTokens = 40, Pipeline = tensorPipeline });
        Assert.AreEqual(fast.Text, slow.Text);
    }

    [TestMethod]
    public void ResponseFormatRoundTripsThroughTheOptionsJson()
    {
        var json = JsonNode.Parse("""{"max_tokens":5,"response_format":{"type":"json_schema","json_schema":{"name":"p","schema":{"type":"integer"}}}}""")!.AsObject();
        var options = GenerationOptionsJson.Read(json);
        Assert.AreEqual(OutputConstraintKind.JsonSchema, options.OutputConstraint!.Kind);
        Assert.IsTrue(CompiledGrammar.For(options.OutputConstraint).Accepts("12"));
        var again = GenerationOptionsJson.Read(GenerationOptionsJson.Write(options));
        Assert.AreEqual(options, again);
        Assert.AreEqual(OutputConstraint.Json(2), GenerationOptionsJson.Read(JsonNode.Parse("""{"response_format":{"type":"json_object","max_whitespace":2}}""")!.AsObject()).OutputConstraint);
        Assert.IsNull(GenerationOptionsJson.Read(JsonNode.Parse("""{"response_format":{"type":"text"}}""")!.AsObject()).OutputConstraint);
        var error = Assert.ThrowsExactly<ArgumentException>(() => GenerationOptionsJson.Read(JsonNode.Parse("""{"response_format":{"type":"xml"}}""")!.AsObject()));
        StringAssert.Contains(error.Message, "xml");
        Assert.AreEqual("response_format", error.ParamName);
    }
}
