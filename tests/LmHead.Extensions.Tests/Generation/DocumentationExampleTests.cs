using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.Tests.Models;

namespace LmHead.Extensions.Tests.Generation;

[TestClass]
public sealed class DocumentationExampleTests
{
    [TestMethod]
    public async Task TheExampleInDocsGpt2MdRunsOnASavedCheckpoint()
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(vocabularySize: 50257), seed: 40);
        var output = new StringWriter();
        var reasons = new List<FinishReason>();

        // --- the example of docs/gpt2.md, with the folder and Console.Write redirected ---
        using var gpt2 = Gpt2Pretrained.Load(folder);
        var generator = new TextGenerator(gpt2);

        var options = new GenerationOptions { MaxNewTokens = 40, StopSequences = ["\n\n"], Decoding = new() { Temperature = 0.7f, TopK = 50, Seed = 42 } };
        await foreach (var chunk in generator.GenerateStreamingAsync("The meaning of life is", options))
        {
            output.Write(chunk.Text);
            if (chunk.FinishReason is { } reason)
            {
                reasons.Add(reason);
                output.WriteLine($"\n[{reason}; {chunk.PromptTokenCount} prompt + {chunk.CompletionTokenCount} completion tokens]");
            }
        }

        GenerationResult result = await generator.GenerateAsync("Hello", options with { Decoding = options.Decoding with { Seed = 7 } });
        // --- end of the example ---

        Assert.HasCount(1, reasons);
        Assert.Contains("5 prompt + ", output.ToString());
        Assert.IsGreaterThan(0, result.CompletionTokenCount);
    }
}
