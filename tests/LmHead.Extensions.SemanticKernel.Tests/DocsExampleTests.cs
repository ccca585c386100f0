using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.SemanticKernel.Services;
using LmHead.Extensions.SemanticKernel.Settings;
using Microsoft.Extensions.AI;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;

namespace LmHead.Extensions.SemanticKernel.Tests;

/// <summary>The code of docs/semantic-kernel.md, kept compiling and running here (only the model folder differs).</summary>
[TestClass]
public sealed class DocsExampleTests
{
    [TestMethod]
    public async Task TextGenerationExampleRuns()
    {
        string modelFolder = TinyModels.FolderA;
        var output = new StringWriter();

        // --- docs/semantic-kernel.md: text generation ---
        Kernel kernel = Kernel.CreateBuilder()
            .AddLmHeadTextGeneration(modelFolder, modelId: "tiny-shakespeare")
            .Build();

        var settings = new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 60, StopSequences = ["\n\n"], Decoding = new() { Temperature = 0.8f, TopK = 40, Seed = 42 } });
        FunctionResult result = await kernel.InvokePromptAsync(
            "ROMEO: {{$input}}", new KernelArguments(settings) { ["input"] = "But soft," });
        output.WriteLine(result);
        output.WriteLine(result.Metadata?[LmHeadMetadataKeys.Usage]);

        await foreach (var piece in kernel.InvokePromptStreamingAsync("ROMEO:", new KernelArguments(settings)))
        {
            output.Write(piece);
        }
        // --- end ---

        Assert.IsGreaterThan(0, output.ToString().Length);
    }

    [TestMethod]
    public async Task ChatClientExampleRuns()
    {
        string modelFolder = TinyModels.FolderA;

        // --- docs/semantic-kernel.md: chat client ---
        using Gpt2Pretrained model = Gpt2Pretrained.Load(modelFolder);
        using var client = new LmHeadChatClient(new TextGenerator(model), "tiny-shakespeare");
        ChatResponse reply = await client.GetResponseAsync(
            [new ChatMessage(ChatRole.User, "Who goes there?")],
            new ChatOptions { MaxOutputTokens = 40, Seed = 1 });
        Console.WriteLine($"{reply.Text} ({reply.FinishReason}, {reply.Usage?.TotalTokenCount} tokens)");

        // The same client as a Semantic Kernel chat completion service.
        IChatCompletionService chat = client.AsChatCompletionService();
        ChatMessageContent answer = await chat.GetChatMessageContentAsync("Who goes there?");
        // --- end ---

        Assert.IsNotNull(reply.FinishReason);
        Assert.IsNotNull(answer.Content);
    }
}
