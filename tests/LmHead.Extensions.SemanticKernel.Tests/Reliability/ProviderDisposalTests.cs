using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel.TextGeneration;

namespace LmHead.Extensions.SemanticKernel.Tests.Reliability;

/// <summary>
/// Disposing the service provider that owns a folder-registered model while requests stream through the text service
/// and the chat client fails those requests with <see cref="ObjectDisposedException"/>, without a hang or a crash.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class ProviderDisposalTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(2);

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public async Task DisposingTheProviderFailsInFlightRequestsWithObjectDisposedException()
    {
        var services = new ServiceCollection().AddLmHeadTextGeneration(TinyModels.FolderB);
        services.AddLmHeadChatClient(TinyModels.FolderB, serviceId: "chat");
        var provider = services.BuildServiceProvider();
        var text = provider.GetRequiredService<ITextGenerationService>();
        var chat = provider.GetRequiredKeyedService<IChatClient>("chat");
        const int requests = 4;
        using var started = new CountdownEvent(2 * requests);
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        async Task Stream<T>(IAsyncEnumerable<T> stream)
        {
            bool first = true;
            await foreach (var item in stream)
            {
                if (first)
                {
                    first = false;
                    started.Signal();
                    await go.Task;
                }
            }
        }

        var settings = new LmHead.Extensions.SemanticKernel.Settings.LmHeadPromptExecutionSettings(new LmHead.Extensions.Generation.GenerationOptions { MaxNewTokens = 250, Decoding = new() { Seed = 1 } });
        var tasks = Enumerable.Range(0, requests).SelectMany(i => new[]
        {
            Task.Run(() => Stream(text.GetStreamingTextContentsAsync("Request " + i, settings))),
            Task.Run(() => Stream(chat.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "Request " + i)], new ChatOptions { MaxOutputTokens = 240, Seed = i }))),
        }).ToArray();
        Assert.IsTrue(started.Wait(Deadline), "the requests did not start");

        // Dispose while every stream is paused mid-generation (after its first chunk), then let them continue: each one's
        // next step meets the disposed model. (Releasing them first raced with requests that end early by themselves.)
        await provider.DisposeAsync();
        go.SetResult();

        foreach (var task in tasks)
        {
            await Assert.ThrowsAsync<ObjectDisposedException>(() => task.WaitAsync(Deadline));
        }
    }
}
