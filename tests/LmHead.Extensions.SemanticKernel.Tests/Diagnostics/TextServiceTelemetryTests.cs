using LmHead.Extensions.Decoding;
using LmHead.Extensions.Generation;
using LmHead.Extensions.SemanticKernel.Services;
using LmHead.Extensions.SemanticKernel.Settings;
using LmHead.Extensions.Tokenization;
using Microsoft.Extensions.Logging;

namespace LmHead.Extensions.SemanticKernel.Tests.Diagnostics;

/// <summary>The text service's gen_ai span, histograms and Debug log line, read with listeners.</summary>
[TestClass]
public sealed class TextServiceTelemetryTests
{
    private const string Prompt = "Once upon a time";

    private static LmHeadPromptExecutionSettings Settings => new(new GenerationOptions
    {
        MaxNewTokens = 5,
        StopSequences = ["\u0001"],
        Decoding = DecodingOptions.Default with { Temperature = 0.9f, TopP = 0.8f, TopK = 40, Seed = 3 },
    });

    private static void AssertRecorded(TelemetryRecorder recorder, string modelId)
    {
        int promptTokens = Gpt2Tokenizer.Default.EncodeToIds(Prompt).Count;
        var activity = recorder.Activities.Single();
        Assert.AreEqual($"text_completion {modelId}", activity.DisplayName);
        Assert.AreEqual("text_completion", activity.GetTagItem("gen_ai.operation.name"));
        Assert.AreEqual("lmhead", activity.GetTagItem("gen_ai.provider.name"));
        Assert.AreEqual(0.9, (double)activity.GetTagItem("gen_ai.request.temperature")!, 1e-6);
        Assert.AreEqual(0.8, (double)activity.GetTagItem("gen_ai.request.top_p")!, 1e-6);
        Assert.AreEqual(40, activity.GetTagItem("gen_ai.request.top_k"));
        Assert.AreEqual(5, activity.GetTagItem("gen_ai.request.max_tokens"));
        Assert.AreEqual(3L, activity.GetTagItem("gen_ai.request.seed"));
        CollectionAssert.AreEqual(new[] { "length" }, (string[])activity.GetTagItem("gen_ai.response.finish_reasons")!);
        Assert.AreEqual(promptTokens, activity.GetTagItem("gen_ai.usage.input_tokens"));
        Assert.AreEqual(5, activity.GetTagItem("gen_ai.usage.output_tokens"));

        var usage = recorder.Measurements.Where(m => m.Instrument == "gen_ai.client.token.usage").ToList();
        Assert.HasCount(2, usage);
        Assert.AreEqual(promptTokens, usage.Single(m => (string?)m.Tags["gen_ai.token.type"] == "input").Value);
        Assert.AreEqual(5, usage.Single(m => (string?)m.Tags["gen_ai.token.type"] == "output").Value);
        Assert.IsTrue(usage.All(m => (string?)m.Tags["gen_ai.operation.name"] == "text_completion"));
        var duration = recorder.Measurements.Single(m => m.Instrument == "gen_ai.client.operation.duration");
        Assert.IsGreaterThan(0, duration.Value);
        Assert.IsFalse(duration.Tags.ContainsKey("error.type"));

        var log = recorder.Logs.Single(l => l.Level == LogLevel.Debug);
        StringAssert.Contains(log.Message, $"{promptTokens} input tokens, 5 output tokens");
        StringAssert.Contains(log.Message, "tokens/s");
    }

    [TestMethod]
    public async Task WholeRequestRecordsSpanHistogramsAndDebugLine()
    {
        const string modelId = "telemetry-whole";
        using var recorder = new TelemetryRecorder(modelId);
        var service = new LmHeadTextGenerationService(TinyModels.GeneratorA, modelId, recorder);

        await service.GetTextContentsAsync(Prompt, Settings);

        AssertRecorded(recorder, modelId);
    }

    [TestMethod]
    public async Task StreamedRequestRecordsTheSame()
    {
        const string modelId = "telemetry-stream";
        using var recorder = new TelemetryRecorder(modelId);
        var service = new LmHeadTextGenerationService(TinyModels.GeneratorA, modelId, recorder);

        await foreach (var _ in service.GetStreamingTextContentsAsync(Prompt, Settings))
        {
        }

        AssertRecorded(recorder, modelId);
    }

    [TestMethod]
    public async Task CanceledRequestRecordsAnErrorAndNoUsage()
    {
        const string modelId = "telemetry-canceled";
        using var recorder = new TelemetryRecorder(modelId);
        var service = new LmHeadTextGenerationService(TinyModels.GeneratorA, modelId, recorder);
        using var canceled = new CancellationTokenSource();
        await canceled.CancelAsync();

        await Assert.ThrowsAsync<OperationCanceledException>(() => service.GetTextContentsAsync(Prompt, Settings, cancellationToken: canceled.Token));

        var activity = recorder.Activities.Single();
        Assert.AreEqual(System.Diagnostics.ActivityStatusCode.Error, activity.Status);
        StringAssert.Contains((string?)activity.GetTagItem("error.type"), "Canceled");
        Assert.IsEmpty(recorder.Measurements.Where(m => m.Instrument == "gen_ai.client.token.usage"));
        Assert.IsTrue(recorder.Measurements.Single(m => m.Instrument == "gen_ai.client.operation.duration").Tags.ContainsKey("error.type"));
    }
}
