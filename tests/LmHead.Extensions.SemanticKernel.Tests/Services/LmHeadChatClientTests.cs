using LmHead.Extensions.Generation;
using LmHead.Extensions.SemanticKernel.Services;
using LmHead.Extensions.SemanticKernel.Settings;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using Microsoft.SemanticKernel.Services;

namespace LmHead.Extensions.SemanticKernel.Tests.Services;

[TestClass]
public sealed class LmHeadChatClientTests
{
    private static readonly ChatMessage[] s_conversation =
    [
        new(ChatRole.System, "You tell short stories."),
        new(ChatRole.User, "Tell me about the sea."),
    ];

    private static LmHeadChatClient CreateClient() => new(TinyModels.GeneratorA, "tiny-a");

    [TestMethod]
    public void RendersTheDocumentedPlainTextFormat()
    {
        ChatMessage[] messages = [new(ChatRole.User, "Hi"), new(ChatRole.Assistant, "Hello."), new(ChatRole.User, " How are you? ")];

        string prompt = ChatPromptFormat.Render(messages, "Be terse.");

        Assert.AreEqual("System: Be terse.\nUser: Hi\nAssistant: Hello.\nUser: How are you?\nAssistant:", prompt);
    }

    [TestMethod]
    public async Task ReplyIsTheGeneratorsContinuationOfTheRenderedPromptWithUsageAndFinishReason()
    {
        using var client = CreateClient();
        var options = new ChatOptions { Seed = 4, MaxOutputTokens = 12, Temperature = 1f, TopK = 40 };

        var response = await client.GetResponseAsync(s_conversation, options);

        var expected = await TinyModels.GeneratorA.GenerateAsync(
            ChatPromptFormat.Render(s_conversation),
            new GenerationOptions { MaxNewTokens = 12, StopSequences = [ChatPromptFormat.TurnStopSequence], Decoding = new() { Seed = 4, Temperature = 1f, TopK = 40 } });
        Assert.AreEqual(expected.Text.TrimStart(), response.Text);
        Assert.AreEqual(expected.FinishReason == FinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop, response.FinishReason);
        Assert.AreEqual(expected.PromptTokenCount, (int)response.Usage!.InputTokenCount!.Value);
        Assert.AreEqual(expected.CompletionTokenCount, (int)response.Usage.OutputTokenCount!.Value);
        Assert.AreEqual("tiny-a", response.ModelId);
    }

    [TestMethod]
    public async Task StreamingUpdatesConcatenateToTheResponseAndTheLastCarriesUsage()
    {
        using var client = CreateClient();
        var options = new ChatOptions { Seed = 8, MaxOutputTokens = 3 };

        var response = await client.GetResponseAsync(s_conversation, options);
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(s_conversation, options))
        {
            updates.Add(update);
        }

        Assert.AreEqual(response.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.IsNotNull(updates[^1].FinishReason);
        Assert.AreEqual(1, updates[^1].Contents.OfType<UsageContent>().Count());
        Assert.IsTrue(updates.All(u => u.ModelId == "tiny-a" && u.ResponseId == updates[0].ResponseId));
        var merged = updates.ToChatResponse();
        Assert.AreEqual(response.Usage!.TotalTokenCount, merged.Usage!.TotalTokenCount);
        Assert.AreEqual(response.FinishReason, merged.FinishReason);
    }

    [TestMethod]
    public async Task MaxOutputTokensGivesLengthFinishReason()
    {
        using var client = CreateClient();

        var response = await client.GetResponseAsync(s_conversation, new ChatOptions { Seed = 2, MaxOutputTokens = 2, TopK = 1 });

        Assert.AreEqual(2, (int)response.Usage!.OutputTokenCount!.Value);
        Assert.AreEqual(ChatFinishReason.Length, response.FinishReason);
    }

    [TestMethod]
    public async Task UnsupportedOptionsThrowNamingTheOption()
    {
        using var client = CreateClient();

        var topP = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.GetResponseAsync(s_conversation, new ChatOptions { TopP = 1.5f }));
        var tools = await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync(
            s_conversation, new ChatOptions { Tools = [new HostedWebSearchTool()] }));
        var extra = await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync(
            s_conversation, new ChatOptions { AdditionalProperties = new() { ["typical_p"] = 0.1 } }));
        var negativeSeed = await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(s_conversation, new ChatOptions { Seed = -1 }));

        Assert.Contains("top_p", topP.Message);
        Assert.Contains("function tools", tools.Message);
        Assert.Contains("typical_p", extra.Message);
        Assert.Contains("seed", negativeSeed.Message);
    }

    [TestMethod]
    public async Task DecodingControlsChangeTheOutputAsTheGeneratorDoes()
    {
        using var client = CreateClient();
        var options = new ChatOptions
        {
            Seed = 5, MaxOutputTokens = 6, Temperature = 1f, TopP = 0.5f, FrequencyPenalty = 0.5f, PresencePenalty = 0.2f,
            AdditionalProperties = new() { ["min_p"] = 0.05, ["repetition_penalty"] = 1.3, ["logit_bias"] = new Dictionary<string, object> { ["11"] = -100 } },
        };
        var viaChat = await client.GetResponseAsync(s_conversation, options);

        var generator = (LmHead.Extensions.Generation.TextGenerator)client.GetService(typeof(LmHead.Extensions.Generation.TextGenerator))!;
        var direct = await generator.GenerateAsync(ChatPromptFormat.Render(s_conversation), new LmHead.Extensions.Generation.GenerationOptions
        {
            MaxNewTokens = 6, StopSequences = [ChatPromptFormat.TurnStopSequence],
            Decoding = new()
            {
                Seed = 5, Temperature = 1f, TopP = 0.5f, FrequencyPenalty = 0.5f, PresencePenalty = 0.2f, MinP = 0.05f,
                RepetitionPenalty = 1.3f, LogitBias = new Dictionary<int, float> { [11] = float.NegativeInfinity },
            },
        });

        Assert.AreEqual(direct.Text.TrimStart(), viaChat.Text);
    }

    [TestMethod]
    public async Task CallersStopListIsNotMutated()
    {
        using var client = CreateClient();
        var stops = new List<string> { "zzz-never" };

        await client.GetResponseAsync(s_conversation, new ChatOptions { Seed = 1, MaxOutputTokens = 3, StopSequences = stops });

        Assert.AreEqual("zzz-never", stops.Single());
    }

    [TestMethod]
    public async Task CancellationThrows()
    {
        using var client = CreateClient();
        using var canceled = new CancellationTokenSource();
        await canceled.CancelAsync();

        await Assert.ThrowsAsync<OperationCanceledException>(() => client.GetResponseAsync(s_conversation, new ChatOptions { MaxOutputTokens = 100 }, canceled.Token));
    }

    [TestMethod]
    public async Task WorksInSemanticKernelThroughAsChatCompletionService()
    {
        using var client = CreateClient();
        var builder = Kernel.CreateBuilder();
        builder.Services.AddSingleton<IChatCompletionService>(client.AsChatCompletionService());
        var kernel = builder.Build();
        var history = new ChatHistory("You tell short stories.");
        history.AddUserMessage("Tell me about the sea.");
        var settings = new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 10, IncludeLogProbabilities = true, Decoding = new() { Seed = 6, Temperature = 1f } });

        var service = kernel.GetRequiredService<IChatCompletionService>();
        var message = await service.GetChatMessageContentAsync(history, settings, kernel);
        var viaPrompt = await kernel.InvokePromptAsync("Tell me about the sea.", new KernelArguments(settings));

        var direct = await client.GetResponseAsync(s_conversation, new ChatOptions { Seed = 6, MaxOutputTokens = 10, Temperature = 1f });
        var directPrompt = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Tell me about the sea.")], new ChatOptions { Seed = 6, MaxOutputTokens = 10, Temperature = 1f });
        Assert.AreEqual(direct.Text, message.Content);
        Assert.AreEqual("tiny-a", service.GetModelId());
        Assert.AreEqual(directPrompt.Text, viaPrompt.GetValue<string>());
    }

    [TestMethod]
    public async Task UnsupportedSemanticKernelSettingThrowsThroughAsChatCompletionService()
    {
        using var client = CreateClient();
        var service = client.AsChatCompletionService();
        var settings = new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["typical_p"] = 0.5 } };

        var error = await Assert.ThrowsAsync<NotSupportedException>(() => service.GetChatMessageContentAsync(new ChatHistory("Hi"), settings));

        Assert.Contains("typical_p", error.Message);
    }

    [TestMethod]
    public async Task RegisteredChatClientServesPromptFunctions()
    {
        var kernel = Kernel.CreateBuilder().AddLmHeadChatClient(TinyModels.FolderA).Build();
        var settings = new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 8, Decoding = new() { Seed = 12, Temperature = 1f } });

        var result = await kernel.InvokePromptAsync("Tell me about the sea.", new KernelArguments(settings));

        using var client = CreateClient();
        var direct = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Tell me about the sea.")], new ChatOptions { Seed = 12, MaxOutputTokens = 8, Temperature = 1f });
        Assert.AreEqual(direct.Text, result.GetValue<string>());
    }
}
