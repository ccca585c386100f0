using System.Collections.Concurrent;
using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.SemanticKernel.Settings;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.TextGeneration;

namespace LmHead.Extensions.SemanticKernel.Tests.Reliability;

/// <summary>
/// A text-generation service and a chat client registered on the same loaded model share its steps: sixteen seeded
/// requests at once (eight through each, a long prompt among them) run in common model calls, counted through the
/// scheduler's test hook, and each gives exactly the text it gives alone.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class SharedStepTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(4);

    private static readonly string[] s_prompts =
    [
        "The sea was", "Once upon a time", "A", string.Join(' ', Enumerable.Repeat("word", 140)), "Numbers: 1, 2, 3,", "She said", "Why", "The quick brown fox",
    ];

    [TestMethod]
    [Timeout(600_000, CooperativeCancellation = true)]
    public async Task TextServiceAndChatClientOnOneModelBatchTogetherAndGiveTheirSoloOutputs()
    {
        using var pretrained = Gpt2Pretrained.Load(TinyModels.FolderB);
        var services = new ServiceCollection().AddLmHeadTextGeneration(pretrained, "b");
        services.AddLmHeadChatClient(pretrained, "b");   // returns a ChatClientBuilder for middleware
        using var provider = services.BuildServiceProvider();
        var text = provider.GetRequiredService<ITextGenerationService>();
        var chat = provider.GetRequiredService<IChatClient>();
        var scheduler = chat.GetService<TextGenerator>()!.Scheduler;
        Assert.AreSame(scheduler, new TextGenerator(pretrained).Scheduler, "every generator over one model shares its scheduler");

        async Task<string> Run(int i)
        {
            string prompt = s_prompts[i % s_prompts.Length];
            int maxTokens = 10 + (7 * i % 23);
            string[] stops = i % 5 == 2 ? ["e"] : [];
            if (i % 2 == 0)
            {
                var settings = new LmHeadPromptExecutionSettings(new GenerationOptions
                { MaxNewTokens = maxTokens, StopSequences = stops, Decoding = new() { Seed = (ulong)i, Temperature = 1f, TopK = i % 4 == 0 ? null : 40, TopP = i % 3 == 0 ? 0.9f : null } });
                if (i % 4 == 0)
                {
                    return (await text.GetTextContentsAsync(prompt, settings))[0].Text!;
                }

                var streamed = new System.Text.StringBuilder();
                await foreach (var piece in text.GetStreamingTextContentsAsync(prompt, settings))
                {
                    streamed.Append(piece.Text);
                }

                return streamed.ToString();
            }

            ChatMessage[] messages = [new(ChatRole.User, prompt)];
            var options = new ChatOptions { Seed = i, MaxOutputTokens = maxTokens, Temperature = 0.8f, TopK = i % 3 == 0 ? 0 : 30, StopSequences = stops };
            if (i % 4 == 1)
            {
                return (await chat.GetResponseAsync(messages, options)).Text;
            }

            var chatText = new System.Text.StringBuilder();
            await foreach (var update in chat.GetStreamingResponseAsync(messages, options))
            {
                chatText.Append(update.Text);
            }

            return chatText.ToString();
        }

        const int Requests = 16;
        var solo = new string[Requests];
        for (int i = 0; i < Requests; i++)
        {
            solo[i] = await Run(i);
        }

        var rowsPerCall = new ConcurrentQueue<int>();
        scheduler.StepCompleted = fed => rowsPerCall.Enqueue(fed.Count);
        string[] together;
        try
        {
            var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var tasks = Enumerable.Range(0, Requests).Select(i => Task.Run(async () =>
            {
                await go.Task;
                return await Run(i);
            })).ToArray();
            go.SetResult();
            together = await Task.WhenAll(tasks).WaitAsync(Deadline);
        }
        finally
        {
            scheduler.StepCompleted = null;
        }

        for (int i = 0; i < Requests; i++)
        {
            Assert.AreEqual(solo[i], together[i], $"request {i} gave a different text beside the others");
        }

        Assert.IsGreaterThan(Requests / 2, solo.Distinct().Count(), "the requests are too alike to show that outputs do not mix");
        Assert.IsGreaterThan(Requests / 2, rowsPerCall.Max(), "a model call carried more than eight requests, so text-service and chat requests shared it");
    }
}
