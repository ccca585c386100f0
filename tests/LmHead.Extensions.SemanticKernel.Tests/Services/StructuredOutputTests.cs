using System.Text.Json;
using LmHead.Extensions.SemanticKernel.Services;
using Microsoft.Extensions.AI;

namespace LmHead.Extensions.SemanticKernel.Tests.Services;

[TestClass]
public sealed class StructuredOutputTests
{
    private static readonly ChatMessage[] s_question = [new(ChatRole.User, "How many apples, and are they ripe?")];

    /// <summary>A typed result as <c>GetResponseAsync&lt;T&gt;</c> asks for it (no free text: a random model would fill it until the token limit; long, as an integer without bounds may have up to 16 digits).</summary>
    public sealed record Apples(long Count, bool Ripe, Ripeness Stage);

    /// <summary>An enum member of the typed result.</summary>
    public enum Ripeness
    {
        /// <summary>Green.</summary>
        Green,

        /// <summary>Ripe.</summary>
        Ripe,
    }

    [TestMethod]
    public async Task TypedResultsParseOnTheLocalModel()
    {
        using var client = new LmHeadChatClient(TinyModels.GeneratorA, "tiny-a");
        int parsed = 0;
        for (int seed = 1; seed <= 4; seed++)
        {
            var response = await client.GetResponseAsync<Apples>(s_question, new ChatOptions { Seed = seed, MaxOutputTokens = 80, Temperature = 0.7f });
            if (response.FinishReason == ChatFinishReason.Length)
            {
                continue;
            }

            Assert.IsTrue(response.TryGetResult(out var apples), response.Text);
            Assert.IsNotNull(apples);
            parsed++;
        }

        Assert.IsGreaterThan(0, parsed, "some replies completed within 80 tokens");
    }

    [TestMethod]
    public async Task JsonResponseFormatGivesJsonAndSchemasAreFollowed()
    {
        using var client = new LmHeadChatClient(TinyModels.GeneratorA, "tiny-a");
        var json = await client.GetResponseAsync(s_question, new ChatOptions { Seed = 3, MaxOutputTokens = 60, ResponseFormat = ChatResponseFormat.Json });
        if (json.FinishReason == ChatFinishReason.Stop)
        {
            using var document = JsonDocument.Parse(json.Text);
        }

        using var schema = JsonDocument.Parse("""{"type":"object","properties":{"answer":{"enum":["yes","no"]}},"required":["answer"],"additionalProperties":false}""");
        var constrained = await client.GetResponseAsync(
            s_question, new ChatOptions { Seed = 9, MaxOutputTokens = 40, ResponseFormat = ChatResponseFormat.ForJsonSchema(schema.RootElement, "yes_no") });
        Assert.AreEqual(ChatFinishReason.Stop, constrained.FinishReason, constrained.Text);
        Assert.IsTrue(constrained.Text is "{\"answer\":\"yes\"}" or "{\"answer\":\"no\"}" or "{\"answer\": \"yes\"}" or "{\"answer\": \"no\"}" or "{ \"answer\":\"yes\"}" or "{ \"answer\":\"no\"}"
            || JsonDocument.Parse(constrained.Text).RootElement.GetProperty("answer").GetString() is "yes" or "no", constrained.Text);
    }

    [TestMethod]
    public void SemanticKernelResponseFormatSettingsBecomeConstraints()
    {
        static LmHead.Extensions.Decoding.Grammar.OutputConstraint? From(object value) => LmHead.Extensions.SemanticKernel.Settings.LmHeadPromptExecutionSettings.FromExecutionSettings(
            new Microsoft.SemanticKernel.PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["response_format"] = value } }).Options.OutputConstraint;

        Assert.AreEqual(LmHead.Extensions.Decoding.Grammar.OutputConstraint.Json(), From("json_object"));
        Assert.IsNull(From("text"));
        var schema = From(JsonDocument.Parse("""{"type":"json_schema","json_schema":{"name":"n","strict":true,"schema":{"type":"boolean"}}}""").RootElement);
        Assert.AreEqual(LmHead.Extensions.Decoding.Grammar.OutputConstraintKind.JsonSchema, schema!.Kind);
        var typed = From(typeof(Apples));
        Assert.IsTrue(LmHead.Extensions.Decoding.Grammar.CompiledGrammar.For(typed!).Accepts("{\"count\":3,\"ripe\":true,\"stage\":\"Green\"}"));
        Assert.ThrowsExactly<ArgumentException>(() => From("yaml"));
    }
}
