using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Generation;
using LmHead.Extensions.SemanticKernel.Tests;

namespace LmHead.Extensions.Server.Tests;

/// <summary>
/// <c>/v1/completions</c> over plain HTTP (the OpenAI .NET SDK 2.15 keeps its legacy completion client internal), against
/// the generator called directly.
/// </summary>
[TestClass]
public sealed class TextCompletionTests
{
    private const string Prompt = "ROMEO:";

    [TestMethod]
    public async Task CompletionEqualsTheGeneratorsWithLegacyLogProbabilities()
    {
        var server = await ServerFixture.ServerAsync();
        var expected = await TinyModels.GeneratorA.GenerateAsync(Prompt, new GenerationOptions
        {
            MaxNewTokens = 8, TopLogProbabilities = 2, Decoding = DecodingOptions.Default with { Seed = 5, Temperature = 1.1f },
        });

        using var http = new HttpClient { BaseAddress = server.Address };

        using var response = await http.PostAsJsonAsync("/v1/completions", new
        {
            model = ServerFixture.ModelId, prompt = Prompt, max_tokens = 8, seed = 5, temperature = 1.1, logprobs = 2,
        });
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        var choice = body["choices"]![0]!;
        Assert.AreEqual("text_completion", (string?)body["object"]);
        Assert.AreEqual(expected.Text, (string?)choice["text"]);
        Assert.AreEqual("length", (string?)choice["finish_reason"]);
        Assert.AreEqual(expected.PromptTokenCount, (int)body["usage"]!["prompt_tokens"]!);
        Assert.AreEqual(8, (int)body["usage"]!["completion_tokens"]!);
        var logprobs = choice["logprobs"]!;
        CollectionAssert.AreEqual(expected.LogProbabilities.Select(t => t.Text).ToArray(), logprobs["tokens"]!.AsArray().Select(t => (string)t!).ToArray());
        for (int i = 0; i < expected.LogProbabilities.Count; i++)
        {
            Assert.AreEqual(expected.LogProbabilities[i].LogProbability, (double)logprobs["token_logprobs"]![i]!, 1e-6);
            Assert.AreEqual(expected.LogProbabilities.Take(i).Sum(t => t.Text.Length), (int)logprobs["text_offset"]![i]!);
            Assert.IsGreaterThanOrEqualTo(1, logprobs["top_logprobs"]![i]!.AsObject().Count);
        }
    }

    [TestMethod]
    public async Task StreamedCompletionIsServerSentEventsEndingWithUsageAndDone()
    {
        var server = await ServerFixture.ServerAsync();
        var expected = await TinyModels.GeneratorA.GenerateAsync(Prompt, new GenerationOptions
        {
            MaxNewTokens = 10, Decoding = DecodingOptions.Default with { Seed = 8, Temperature = 1.1f },
        });
        using var http = new HttpClient { BaseAddress = server.Address };

        using var response = await http.PostAsJsonAsync("/v1/completions", new
        {
            model = ServerFixture.ModelId, prompt = Prompt, max_tokens = 10, seed = 8, temperature = 1.1, stream = true,
            stream_options = new { include_usage = true },
        });
        string stream = await response.Content.ReadAsStringAsync();

        Assert.AreEqual("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        string[] events = stream.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.IsTrue(events.All(e => e.StartsWith("data: ", StringComparison.Ordinal)), stream);
        Assert.AreEqual("data: [DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonNode.Parse(e["data: ".Length..])!).ToList();
        var usage = chunks[^1];
        Assert.IsEmpty(usage["choices"]!.AsArray());
        Assert.AreEqual(10, (int)usage["usage"]!["completion_tokens"]!);
        var text = new StringBuilder();
        foreach (var chunk in chunks[..^1])
        {
            Assert.IsNull(chunk["usage"], "Chunks before the last carry \"usage\": null.");
            text.Append((string?)chunk["choices"]![0]!["text"]);
        }

        Assert.AreEqual(expected.Text, text.ToString());
        Assert.AreEqual("length", (string?)chunks[^2]["choices"]![0]!["finish_reason"]);
    }
}
