using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.SemanticKernel.Settings;
using Microsoft.SemanticKernel;

namespace LmHead.Extensions.SemanticKernel.Tests;

/// <summary>The README's "Generation, Semantic Kernel, ML.NET" snippet, on the shipped default model.</summary>
[TestClass]
public sealed class ReadmeSnippetTests
{
    [TestMethod]
    public async Task TheReadmeGenerationAndKernelSnippetRuns()
    {
        string folder = DefaultModel.FindFolder();
        using var gpt2 = Gpt2Pretrained.Load(folder);
        var generator = new TextGenerator(gpt2);
        var options = new GenerationOptions { MaxNewTokens = 60, StopSequences = ["\n\n"], Decoding = new() { Temperature = 0.8f, TopK = 40, TopP = 0.95f, Seed = 7 } };
        var streamed = new System.Text.StringBuilder();
        await foreach (var chunk in generator.GenerateStreamingAsync("JULIET:\n", options))
        {
            streamed.Append(chunk.Text);
        }

        Assert.IsFalse(streamed.ToString().Contains("\n\n", StringComparison.Ordinal), "the stop sequence never appears");

        Kernel kernel = Kernel.CreateBuilder().AddLmHeadTextGeneration(folder).Build();
        var result = await kernel.InvokePromptAsync("{{$input}}", new(new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 40, Decoding = new() { Seed = 1 } })) { ["input"] = "ROMEO:" });
        Assert.IsFalse(string.IsNullOrWhiteSpace(result.GetValue<string>()));
    }
}
