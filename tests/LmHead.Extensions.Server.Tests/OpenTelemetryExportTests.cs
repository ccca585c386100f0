using System.Diagnostics;
using LmHead.Extensions.SemanticKernel.Diagnostics;
using LmHead.Extensions.SemanticKernel.Tests;
using Microsoft.Extensions.DependencyInjection;
using OpenAI.Chat;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace LmHead.Extensions.Server.Tests;

/// <summary>The OpenTelemetry SDK subscribed as docs/server.md shows (with the in-memory exporter) exports the server's span and histograms.</summary>
[TestClass]
public sealed class OpenTelemetryExportTests
{
    [TestMethod]
    public async Task SdkExportsTheChatSpanAndBothHistograms()
    {
        const string modelId = "otel-export";
        var spans = new List<Activity>();
        var metrics = new List<Metric>();
        await using var server = await LoopbackServer.StartAsync(TinyModels.GeneratorA, modelId, configure: services => services.AddOpenTelemetry()
            .WithTracing(tracing => tracing.AddSource(LmHeadTelemetry.SourceName).AddInMemoryExporter(spans))
            .WithMetrics(meters => meters.AddMeter(LmHeadTelemetry.SourceName).AddInMemoryExporter(metrics)));
        var chat = server.CreateClient().GetChatClient(modelId);

        ChatCompletion completion = await chat.CompleteChatAsync(
            [new UserChatMessage("Hail!")], new ChatCompletionOptions { Seed = 1, MaxOutputTokenCount = 4, StopSequences = { "\u0001" } });
        server.Services.GetRequiredService<TracerProvider>().ForceFlush();
        server.Services.GetRequiredService<MeterProvider>().ForceFlush();

        Activity span;
        lock (spans)
        {
            span = spans.Single(a => a.DisplayName == $"chat {modelId}");
        }

        Assert.AreEqual(completion.Usage.OutputTokenCount, span.GetTagItem("gen_ai.usage.output_tokens"));
        Assert.AreEqual(4, completion.Usage.OutputTokenCount);
        var tokenUsage = metrics.Single(m => m.Name == "gen_ai.client.token.usage");
        Assert.AreEqual("{token}", tokenUsage.Unit);
        long outputTokens = 0;
        foreach (ref readonly var point in tokenUsage.GetMetricPoints())
        {
            var tags = new Dictionary<string, object?>();
            foreach (var tag in point.Tags)
            {
                tags[tag.Key] = tag.Value;
            }

            if ((string?)tags["gen_ai.request.model"] == modelId && (string?)tags["gen_ai.token.type"] == "output")
            {
                outputTokens += (long)point.GetHistogramSum();
            }
        }

        Assert.AreEqual(4, outputTokens);
        Assert.AreEqual("s", metrics.Single(m => m.Name == "gen_ai.client.operation.duration").Unit);
    }
}
