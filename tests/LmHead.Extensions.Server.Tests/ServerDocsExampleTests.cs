using System.ClientModel;
using LmHead.Extensions.SemanticKernel.Tests;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using OpenAI.Chat;

namespace LmHead.Extensions.Server.Tests;

/// <summary>The code of docs/server.md, kept compiling and running here (only the model folder and the address differ).</summary>
[TestClass]
public sealed class ServerDocsExampleTests
{
    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public async Task HostingAndClientExamplesRun()
    {
        string[] args = ["--urls", "http://127.0.0.1:0"];
        string modelFolder = TinyModels.FolderA;

        // --- docs/server.md: hosting (app.Run() replaced by StartAsync so the test goes on) ---
        var builder = WebApplication.CreateBuilder(args);
        builder.Services.AddLmHeadServer(modelFolder, modelId: "tiny-shakespeare");
        var app = builder.Build();
        app.MapLmHeadOpenAi();
        await app.StartAsync();
        // --- end ---

        await using var _ = app;
        var output = new StringWriter();
        Uri endpoint = new(new Uri(app.Urls.First()), "/v1");

        // --- docs/server.md: the OpenAI .NET SDK ---
        var client = new OpenAIClient(new ApiKeyCredential("not-checked"), new OpenAIClientOptions { Endpoint = endpoint });
        ChatClient chat = client.GetChatClient("tiny-shakespeare");
        ChatCompletion reply = await chat.CompleteChatAsync(
            [new UserChatMessage("Good morrow!")], new ChatCompletionOptions { MaxOutputTokenCount = 20, Temperature = 0.8f });
        output.WriteLine($"{reply.Content[0].Text} [{reply.FinishReason}, {reply.Usage.OutputTokenCount} tokens]");

        await foreach (StreamingChatCompletionUpdate update in chat.CompleteChatStreamingAsync([new UserChatMessage("Good morrow!")]))
        {
            foreach (var part in update.ContentUpdate)
            {
                output.Write(part.Text);
            }
        }
        // --- end ---

        StringAssert.Contains(output.ToString(), " tokens]");
        Assert.IsLessThanOrEqualTo(20, reply.Usage.OutputTokenCount);
        await app.StopAsync();
    }
}
