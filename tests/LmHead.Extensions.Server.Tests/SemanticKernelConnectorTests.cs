using System.Text;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Generation;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.Connectors.OpenAI;

namespace LmHead.Extensions.Server.Tests;

/// <summary>Semantic Kernel's OpenAI connector pointed at the server through a custom endpoint.</summary>
[TestClass]
public sealed class SemanticKernelConnectorTests
{
    private const string Prompt = "Who goes there?";

    private static async Task<Kernel> KernelAsync()
    {
        var server = await ServerFixture.ServerAsync();
        return Kernel.CreateBuilder()
            .AddOpenAIChatCompletion(ServerFixture.ModelId, new Uri(server.Address, "/v1"), apiKey: "not-checked")
            .Build();
    }

    private static OpenAIPromptExecutionSettings Settings => new() { Seed = 13, MaxTokens = 10, Temperature = 1.2 };

    private static async Task<string> ExpectedAsync() => (await ServerFixture.ExpectedChatAsync(Prompt, new GenerationOptions
    {
        MaxNewTokens = 10, Decoding = DecodingOptions.Default with { Seed = 13, Temperature = 1.2f },
    })).Text;

    [TestMethod]
    public async Task InvokePromptReturnsTheModelsReply()
    {
        var kernel = await KernelAsync();

        var result = await kernel.InvokePromptAsync(Prompt, new KernelArguments(Settings));

        Assert.AreEqual(await ExpectedAsync(), result.ToString());
    }

    [TestMethod]
    public async Task InvokePromptStreamingReturnsTheSameReplyInPieces()
    {
        var kernel = await KernelAsync();

        var text = new StringBuilder();
        int pieces = 0;
        await foreach (var piece in kernel.InvokePromptStreamingAsync(Prompt, new KernelArguments(Settings)))
        {
            text.Append(piece.ToString());
            pieces++;
        }

        Assert.AreEqual(await ExpectedAsync(), text.ToString());
        Assert.IsGreaterThan(2, pieces);
    }
}
