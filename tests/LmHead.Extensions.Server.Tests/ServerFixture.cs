using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.SemanticKernel.Services;
using LmHead.Extensions.SemanticKernel.Tests;
using Microsoft.Extensions.AI;

namespace LmHead.Extensions.Server.Tests;

/// <summary>
/// One loopback server on tiny model A shared by the tests (it stops with the test process: MSTest allows one assembly
/// cleanup, which TinyModels holds), and the chat client the expectations are computed with.
/// </summary>
public static class ServerFixture
{
    public const string ModelId = "tiny-a";

    private static readonly Lazy<Task<LoopbackServer>> s_server = new(() => LoopbackServer.StartAsync(TinyModels.GeneratorA, ModelId));

    public static Task<LoopbackServer> ServerAsync() => s_server.Value;

    /// <summary>The same model's chat client, called directly: what the server must answer.</summary>
    public static IChatClient DirectChatClient { get; } = new LmHeadChatClient(TinyModels.GeneratorA, ModelId);

    /// <summary>The reply the chat client gives directly, with options written the way the server maps OpenAI's.</summary>
    public static async Task<ChatResponse> ExpectedChatAsync(string userText, GenerationOptions options)
    {
        var chatOptions = new ChatOptions { AdditionalProperties = [] };
        foreach (var (key, value) in GenerationOptionsJson.Write(options))
        {
            chatOptions.AdditionalProperties[key] = value;
        }

        return await DirectChatClient.GetResponseAsync([new ChatMessage(ChatRole.User, userText)], chatOptions);
    }

    /// <summary>A generator over a tiny model with a 4,096-token context (random weights), for generations long enough to cancel.</summary>
    public static TextGenerator LongContextGenerator => s_long.Value;

    private static readonly Lazy<TextGenerator> s_long = new(() =>
    {
        var config = TinyModels.Config() with { MaxPositions = 4096 };
        return new TextGenerator(new Gpt2Model(config), Tokenization.Gpt2Tokenizer.Default);
    });
}
