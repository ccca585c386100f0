using LmHead.Extensions.Decoding;
using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.SemanticKernel.Services;
using LmHead.Extensions.SemanticKernel.Settings;
using Microsoft.Extensions.AI;
using Microsoft.SemanticKernel;
using static TorchSharp.torch;

namespace LmHead.Extensions.SemanticKernel.Tests.Services;

/// <summary>A fixed decoding pipeline (a hand-composed one here; an ML.NET chain's in the ML tests) served as the Semantic Kernel service and the chat client.</summary>
[TestClass]
public sealed class ServedPipelineTests
{
    private const string Prompt = "Hello there";

    private static DecodingPipeline Pipeline(ulong seed) =>
        new DecodingPipelineBuilder().UseTopK(7).UseTemperature(1.3f).UseStepKeyedSeed(seed).Build();

    [TestMethod]
    public async Task AKernelPromptDecodesWithTheServedPipelineStepByStep()
    {
        var kernel = Kernel.CreateBuilder().AddLmHeadTextGeneration(TinyModels.FolderA, Pipeline(42), modelId: "served").Build();
        var settings = new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 12 });

        var served = await kernel.InvokePromptAsync(Prompt, new KernelArguments(settings));
        var ids = DrawStepByStep(Pipeline(42), 12);
        var again = await kernel.InvokePromptAsync(Prompt, new KernelArguments(settings));
        var other = await Kernel.CreateBuilder().AddLmHeadTextGeneration(TinyModels.FolderA, Pipeline(43)).Build()
            .InvokePromptAsync(Prompt, new KernelArguments(settings));

        using var pretrained = Gpt2Pretrained.Load(TinyModels.FolderA);
        Assert.AreEqual(pretrained.Tokenizer.Decode(ids), served.ToString(), "the service draws what the pipeline draws step by step");
        Assert.AreEqual(served.ToString(), again.ToString(), "the pipeline's seed seeds every request");
        Assert.AreNotEqual(served.ToString(), other.ToString(), "another seed draws other tokens (12 draws at T = 1.3)");
    }

    [TestMethod]
    public async Task ADecodingSettingBesideAServedPipelineIsAnErrorNamingIt()
    {
        var service = new LmHeadTextGenerationService(TinyModels.GeneratorA, "served") { Pipeline = Pipeline(1) };
        var json = new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["temperature"] = 0.2, ["max_tokens"] = 2 } };
        using var client = new LmHeadChatClient(TinyModels.GeneratorA, "served") { Pipeline = Pipeline(1) };

        var error = await Assert.ThrowsAsync<ArgumentException>(() => service.GetTextContentsAsync(Prompt, json));
        var chatError = await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync("Hi", new ChatOptions { TopK = 3 }));
        var fine = await service.GetTextContentsAsync(Prompt, new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["max_tokens"] = 2 } });

        Assert.Contains("temperature", error.Message);
        Assert.Contains("top_k", chatError.Message);
        Assert.IsNotNull(fine.Single().Text);
    }

    [TestMethod]
    public async Task TemperatureAndTopKFromPromptJsonDrawWhatTheTensorPipelineDraws()
    {
        var config = PromptTemplateConfig.FromJson("""
            { "template": "Hello there", "execution_settings": { "default": { "temperature": 1.3, "top_k": 7, "seed": 5, "max_tokens": 12 } } }
            """);
        var kernel = Kernel.CreateBuilder().AddLmHeadTextGeneration(TinyModels.GeneratorA, "tiny-a").Build();
        var fromJson = await kernel.InvokeAsync(kernel.CreateFunctionFromPrompt(config));

        // The same values as hand-made tensor stages (a pipeline with Use(stage) has no options, so it never takes the CPU fast path).
        var tensorPipeline = new DecodingPipelineBuilder().Use(new TemperatureScaler(1.3f)).Use(new TopKFilter(7)).UseSeed(5).Build();
        var direct = await TinyModels.GeneratorA.GenerateAsync(Prompt, new GenerationOptions { MaxNewTokens = 12, Pipeline = tensorPipeline });
        var other = await TinyModels.GeneratorA.GenerateAsync(Prompt, new GenerationOptions { MaxNewTokens = 12, Decoding = new() { Temperature = 1.3f, TopK = 7, Seed = 6 } });

        Assert.IsNull(tensorPipeline.Options);
        Assert.AreEqual(direct.Text, fromJson.ToString());
        Assert.AreNotEqual(other.Text, fromJson.ToString(), "another seed draws other tokens, so the comparison can fail");
    }

    /// <summary>The tokens the pipeline picks for the tiny model, one KV-cached step at a time, drawing step t from ForStream(seed, t).</summary>
    private static int[] DrawStepByStep(DecodingPipeline pipeline, int steps)
    {
        using var pretrained = Gpt2Pretrained.Load(TinyModels.FolderA);
        var model = pretrained.Model;
        int[] input = [.. pretrained.Tokenizer.EncodeToIds(Prompt)];
        var chosen = new List<int>();
        using var cache = model.CreateKvCache();
        using var projector = model.GetOutputEmbeddings();
        for (int t = 0; t < steps; t++)
        {
            using var scope = NewDisposeScope();
            var hidden = model.ComputeHiddenStates(tensor(input.Select(i => (long)i).ToArray()), cache);
            var logits = projector.Project(hidden[-1]).to_type(ScalarType.Float32);
            int id = pipeline.NextToken(logits, SamplingRandom.ForStream(pipeline.Seed!.Value, (ulong)t)).TokenId;
            if (id == model.Config.EosTokenId)
            {
                break;
            }

            chosen.Add(id);
            input = [id];
        }

        return [.. chosen];
    }
}
