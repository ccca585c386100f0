using LmHead.Extensions.Generation;
using LmHead.Extensions.SemanticKernel.Services;
using LmHead.Extensions.SemanticKernel.Settings;
using Microsoft.SemanticKernel;

namespace LmHead.Extensions.SemanticKernel.Tests.Extensions;

[TestClass]
public sealed class KernelTests
{
    private const string Prompt = "Once upon a time, in a quiet village,";

    private static Kernel CreateKernel() => Kernel.CreateBuilder().AddLmHeadTextGeneration(TinyModels.FolderA).Build();

    private static async Task<string> ExpectedAsync(GenerationOptions options, string prompt = Prompt) =>
        (await TinyModels.GeneratorA.GenerateAsync(prompt, options)).Text;

    [TestMethod]
    public async Task InvokePromptReturnsTheSeededCompletionWithUsageAndFinishReason()
    {
        var kernel = CreateKernel();
        var settings = new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 12, Decoding = new() { Seed = 11, Temperature = 1f } });

        var result = await kernel.InvokePromptAsync(Prompt, new KernelArguments(settings));

        string expected = await ExpectedAsync(new GenerationOptions { MaxNewTokens = 12, Decoding = new() { Seed = 11, Temperature = 1f } });
        Assert.IsFalse(string.IsNullOrEmpty(expected));
        Assert.AreEqual(expected, result.GetValue<string>());
        Assert.IsNotNull(result.Metadata);
        Assert.IsInstanceOfType<FinishReason>(result.Metadata[LmHeadMetadataKeys.FinishReason]);
        var usage = (Microsoft.Extensions.AI.UsageDetails)result.Metadata[LmHeadMetadataKeys.Usage]!;
        Assert.IsGreaterThan(0L, usage.InputTokenCount!.Value);
        Assert.IsGreaterThan(0L, usage.OutputTokenCount!.Value);
        Assert.AreEqual(usage.InputTokenCount + usage.OutputTokenCount, usage.TotalTokenCount);
    }

    [TestMethod]
    public async Task StreamingConcatenationEqualsNonStreamingForTheSameSeed()
    {
        var kernel = CreateKernel();
        var settings = new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 20, Decoding = new() { Seed = 5, Temperature = 1f } });

        var whole = await kernel.InvokePromptAsync(Prompt, new KernelArguments(settings));
        var pieces = new List<StreamingTextContent>();
        await foreach (var piece in kernel.InvokePromptStreamingAsync(Prompt, new KernelArguments(settings)))
        {
            pieces.Add((StreamingTextContent)piece);
        }

        Assert.AreEqual(whole.GetValue<string>(), string.Concat(pieces.Select(p => p.Text)));
        Assert.IsTrue(pieces.All(p => p.ModelId == "tiny-a"));
        Assert.IsTrue(pieces[^1].Metadata!.ContainsKey(LmHeadMetadataKeys.FinishReason));
        Assert.IsTrue(pieces[^1].Metadata!.ContainsKey(LmHeadMetadataKeys.Usage));
    }

    [TestMethod]
    public async Task SettingsGivenAsTypedClassDictionaryOrPromptConfigJsonGiveTheSameText()
    {
        var kernel = CreateKernel();
        string expected = await ExpectedAsync(new GenerationOptions { MaxNewTokens = 10, Decoding = new() { Seed = 3, Temperature = 0.9f, TopK = 20 } });

        var typed = new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 10, Decoding = new() { Seed = 3, Temperature = 0.9f, TopK = 20 } });
        var dictionary = new PromptExecutionSettings
        {
            ExtensionData = new Dictionary<string, object> { ["seed"] = 3L, ["max_tokens"] = 10, ["temperature"] = 0.9, ["top_k"] = "20" },
        };
        var config = PromptTemplateConfig.FromJson("""
            {
              "name": "story",
              "template": "{{$input}}",
              "execution_settings": { "default": { "seed": 3, "max_tokens": 10, "temperature": 0.9, "top_k": 20 } }
            }
            """);
        var fromJson = kernel.CreateFunctionFromPrompt(config);

        Assert.AreEqual(expected, (await kernel.InvokePromptAsync(Prompt, new KernelArguments(typed))).GetValue<string>());
        Assert.AreEqual(expected, (await kernel.InvokePromptAsync(Prompt, new KernelArguments(dictionary))).GetValue<string>());
        Assert.AreEqual(expected, (await kernel.InvokeAsync(fromJson, new KernelArguments { ["input"] = Prompt })).GetValue<string>());
    }

    [TestMethod]
    public async Task InvalidOrUnknownSettingIsAnErrorNamingIt()
    {
        var kernel = CreateKernel();
        var badTemperature = PromptTemplateConfig.FromJson("""
            { "template": "Hello", "execution_settings": { "default": { "temperature": "hot" } } }
            """);
        var unknown = new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["typical_p"] = 0.9 } };
        var negative = new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["max_tokens"] = -3 } };

        var e1 = await Assert.ThrowsAsync<ArgumentException>(() => kernel.InvokeAsync(kernel.CreateFunctionFromPrompt(badTemperature)));
        var e2 = await Assert.ThrowsAsync<ArgumentException>(() => kernel.InvokePromptAsync("Hello", new KernelArguments(unknown)));
        var e3 = await Assert.ThrowsAsync<ArgumentException>(() => kernel.InvokePromptAsync("Hello", new KernelArguments(negative)));

        Assert.Contains("temperature", e1.Message);
        Assert.Contains("typical_p", e2.Message);
        Assert.Contains("max_tokens", e3.Message);
    }

    [TestMethod]
    public async Task StopSequencesNeverLeakAndOutputEndsRightBeforeTheStop()
    {
        var kernel = CreateKernel();
        var free = new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 40, Decoding = new() { Seed = 21, Temperature = 1f } });
        string unstopped = (await kernel.InvokePromptAsync(Prompt, new KernelArguments(free))).GetValue<string>()!;
        Assert.IsGreaterThan(12, unstopped.Length, $"the seeded output is too short to pick a stop string: '{unstopped}'");
        string stop = unstopped.Substring(unstopped.Length / 2, 3);
        string expected = unstopped[..unstopped.IndexOf(stop, StringComparison.Ordinal)];

        var stopped = new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 40, StopSequences = [stop], Decoding = new() { Seed = 21, Temperature = 1f } });
        var result = await kernel.InvokePromptAsync(Prompt, new KernelArguments(stopped));
        string streamed = "";
        await foreach (var piece in kernel.InvokePromptStreamingAsync(Prompt, new KernelArguments(stopped)))
        {
            streamed += piece.ToString();
        }

        Assert.AreEqual(expected, result.GetValue<string>());
        Assert.AreEqual(expected, streamed);
        Assert.AreEqual(FinishReason.StopSequence, result.Metadata![LmHeadMetadataKeys.FinishReason]);
    }

    [TestMethod]
    public async Task CallersStopListIsNotMutated()
    {
        var kernel = CreateKernel();
        var stops = new List<string> { "zzz-never" };
        var settings = new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 4, StopSequences = stops, Decoding = new() { Seed = 1 } });

        await kernel.InvokePromptAsync(Prompt, new KernelArguments(settings));
        settings.Freeze();
        var clone = (LmHeadPromptExecutionSettings)settings.Clone();
        stops.Add("added-later");
        clone.Options = clone.Options with { StopSequences = [.. clone.Options.StopSequences, "other"] };

        Assert.AreEqual("zzz-never", settings.Options.StopSequences.Single(), "the options keep their own copy");
        Assert.AreEqual(2, stops.Count);
        Assert.IsFalse(((ICollection<string>)stops).IsReadOnly);
    }

    [TestMethod]
    public async Task CancellationThrows()
    {
        var kernel = CreateKernel();
        var settings = new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 200, Decoding = new() { Seed = 1 } });
        using var canceled = new CancellationTokenSource();
        await canceled.CancelAsync();

        await Assert.ThrowsAsync<OperationCanceledException>(() => kernel.InvokePromptAsync(Prompt, new KernelArguments(settings), cancellationToken: canceled.Token));

        using var midway = new CancellationTokenSource();
        await Assert.ThrowsAsync<OperationCanceledException>(async () =>
        {
            await foreach (var piece in kernel.InvokePromptStreamingAsync(Prompt, new KernelArguments(settings), cancellationToken: midway.Token))
            {
                if (piece.ToString().Length > 0)
                {
                    await midway.CancelAsync();
                }
            }
        });
    }

    [TestMethod]
    public async Task ModelIdSelectsBetweenTwoRegisteredServices()
    {
        var kernel = Kernel.CreateBuilder()
            .AddLmHeadTextGeneration(TinyModels.FolderA, modelId: "model-a", serviceId: "a")
            .AddLmHeadTextGeneration(TinyModels.FolderB, modelId: "model-b", serviceId: "b")
            .Build();
        var options = new GenerationOptions { MaxNewTokens = 12, Decoding = new() { Seed = 9, Temperature = 1f } };
        string expectedA = (await TinyModels.GeneratorA.GenerateAsync(Prompt, options)).Text;
        string expectedB = (await TinyModels.GeneratorB.GenerateAsync(Prompt, options)).Text;
        Assert.AreNotEqual(expectedA, expectedB);

        var pickB = new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 12, Decoding = new() { Seed = 9, Temperature = 1f } }) { ModelId = "model-b" };
        var pickA = new PromptExecutionSettings
        {
            ModelId = "model-a",
            ExtensionData = new Dictionary<string, object> { ["seed"] = 9, ["max_tokens"] = 12, ["temperature"] = 1.0 },
        };

        Assert.AreEqual(expectedB, (await kernel.InvokePromptAsync(Prompt, new KernelArguments(pickB))).GetValue<string>());
        Assert.AreEqual(expectedA, (await kernel.InvokePromptAsync(Prompt, new KernelArguments(pickA))).GetValue<string>());
    }

    [TestMethod]
    public async Task EightParallelSeededRequestsEqualTheSameRequestsRunAlone()
    {
        var kernel = CreateKernel();
        var settings = Enumerable.Range(0, 8)
            .Select(i => new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 16, Decoding = new() { Seed = (ulong)(100 + i), Temperature = 1f } }))
            .ToArray();
        var alone = new List<string>();
        foreach (var s in settings)
        {
            alone.Add((await kernel.InvokePromptAsync(Prompt, new KernelArguments(s))).GetValue<string>()!);
        }

        var together = await Task.WhenAll(settings.Select(async s =>
            (await kernel.InvokePromptAsync(Prompt, new KernelArguments(s))).GetValue<string>()!));

        CollectionAssert.AreEqual(alone, together);
        Assert.IsGreaterThan(1, alone.Distinct().Count());
    }
}
