using System.Net.Http.Json;
using LmHead.Extensions.SemanticKernel.Tests;
using LmHead.Extensions.SemanticKernel.Tests.Diagnostics;
using Microsoft.Extensions.Logging;
using OpenAI.Chat;

namespace LmHead.Extensions.Server.Tests;

/// <summary>The server's gen_ai spans, histograms and Debug lines for both endpoints, read with listeners.</summary>
[TestClass]
public sealed class ServerTelemetryTests
{
    [TestMethod]
    public async Task ChatAndCompletionRequestsAreTracedMeasuredAndLogged()
    {
        const string modelId = "telemetry-server";
        using var recorder = new TelemetryRecorder(modelId);
        await using var server = await LoopbackServer.StartAsync(TinyModels.GeneratorA, modelId, recorder);
        var chat = server.CreateClient().GetChatClient(modelId);

        ChatCompletion completion = await chat.CompleteChatAsync(
            [new UserChatMessage("Hail!")], new ChatCompletionOptions { Seed = 4, MaxOutputTokenCount = 6, Temperature = 0.8f, TopP = 0.9f, StopSequences = { "\u0001" } });
        using var http = new HttpClient { BaseAddress = server.Address };
        using var text = await http.PostAsJsonAsync("/v1/completions", new { model = modelId, prompt = "Hail!", max_tokens = 3, seed = 4 });
        text.EnsureSuccessStatusCode();

        var spans = recorder.Activities.ToDictionary(a => a.DisplayName);
        var chatSpan = spans[$"chat {modelId}"];
        Assert.AreEqual("chat", chatSpan.GetTagItem("gen_ai.operation.name"));
        Assert.AreEqual(modelId, chatSpan.GetTagItem("gen_ai.response.model"));
        Assert.AreEqual(0.8, (double)chatSpan.GetTagItem("gen_ai.request.temperature")!, 1e-6);
        Assert.AreEqual(0.9, (double)chatSpan.GetTagItem("gen_ai.request.top_p")!, 1e-6);
        Assert.AreEqual(6, chatSpan.GetTagItem("gen_ai.request.max_tokens"));
        Assert.AreEqual(4L, chatSpan.GetTagItem("gen_ai.request.seed"));
        CollectionAssert.AreEqual(new[] { "length" }, (string[])chatSpan.GetTagItem("gen_ai.response.finish_reasons")!);
        Assert.AreEqual(completion.Usage.InputTokenCount, chatSpan.GetTagItem("gen_ai.usage.input_tokens"));
        Assert.AreEqual(6, chatSpan.GetTagItem("gen_ai.usage.output_tokens"));
        var textSpan = spans[$"text_completion {modelId}"];
        Assert.AreEqual(3, textSpan.GetTagItem("gen_ai.usage.output_tokens"));

        var outputs = recorder.Measurements
            .Where(m => m.Instrument == "gen_ai.client.token.usage" && (string?)m.Tags["gen_ai.token.type"] == "output")
            .ToDictionary(m => (string)m.Tags["gen_ai.operation.name"]!, m => m.Value);
        Assert.AreEqual(6, outputs["chat"]);
        Assert.AreEqual(3, outputs["text_completion"]);
        Assert.HasCount(2, recorder.Measurements.Where(m => m.Instrument == "gen_ai.client.operation.duration"));
        var lines = recorder.Logs.Where(l => l.Level == LogLevel.Debug && l.Message.Contains("tokens/s", StringComparison.Ordinal)).ToList();
        Assert.HasCount(2, lines);
        Assert.IsTrue(lines.All(l => l.Category == "LmHead.Extensions.Server"));
    }
}
