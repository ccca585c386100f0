using LmHead.Extensions.Generation;
using LmHead.Extensions.SemanticKernel.Services;
using LmHead.Extensions.SemanticKernel.Settings;
using Microsoft.Extensions.AI;

namespace LmHead.Extensions.SemanticKernel.Tests.Reliability;

/// <summary>
/// Many seeded requests at once (16 in flight, a few hundred in total) through the text-generation service and the chat
/// client: every one completes, without exceptions or deadlock, with exactly the text it gives when run alone.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class ConcurrentGenerationTests
{
    private const int RequestCount = 200;
    private const int InFlight = 16;
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(4);

    private static readonly string[] s_prompts =
    [
        "The sea was", "Once upon a time", "A", "In the beginning the", "Numbers: 1, 2, 3,", "She said", "Why", "The quick brown fox",
    ];

    [TestMethod]
    [Timeout(600_000, CooperativeCancellation = true)]
    public async Task TextServiceRequestsRunTogetherGiveTheirSoloOutputs()
    {
        var service = new LmHeadTextGenerationService(TinyModels.GeneratorA, "tiny-a");
        async Task<string> Run(int i)
        {
            var settings = new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 1 + (i % 5), Decoding = new() { Seed = (ulong)(i), Temperature = 1f, TopK = i % 3 == 0 ? null : 40 } });
            if (i % 2 == 0)
            {
                var contents = await service.GetTextContentsAsync(s_prompts[i % s_prompts.Length], settings);
                return contents[0].Text!;
            }

            var text = new System.Text.StringBuilder();
            await foreach (var piece in service.GetStreamingTextContentsAsync(s_prompts[i % s_prompts.Length], settings))
            {
                text.Append(piece.Text);
            }

            return text.ToString();
        }

        await AssertConcurrentEqualsSolo(Run);
    }

    [TestMethod]
    [Timeout(600_000, CooperativeCancellation = true)]
    public async Task ChatClientRequestsRunTogetherGiveTheirSoloOutputs()
    {
        using var client = new LmHeadChatClient(TinyModels.GeneratorA, "tiny-a");
        async Task<string> Run(int i)
        {
            ChatMessage[] messages = [new(ChatRole.User, s_prompts[i % s_prompts.Length])];
            var options = new ChatOptions { Seed = i, MaxOutputTokens = 1 + (i % 5), Temperature = 1f, TopK = i % 3 == 0 ? 0 : 40 };
            if (i % 2 == 0)
            {
                return (await client.GetResponseAsync(messages, options)).Text;
            }

            var text = new System.Text.StringBuilder();
            await foreach (var update in client.GetStreamingResponseAsync(messages, options))
            {
                text.Append(update.Text);
            }

            return text.ToString();
        }

        await AssertConcurrentEqualsSolo(Run);
    }

    private static async Task AssertConcurrentEqualsSolo(Func<int, Task<string>> run)
    {
        var solo = new string[RequestCount];
        for (int i = 0; i < RequestCount; i++)
        {
            solo[i] = await run(i);
        }

        using var gate = new SemaphoreSlim(InFlight);
        int running = 0, peak = 0;
        var allIn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var tasks = Enumerable.Range(0, RequestCount).Select(i => Task.Run(async () =>
        {
            await gate.WaitAsync();
            try
            {
                int now = Interlocked.Increment(ref running);
                InterlockedMax(ref peak, now);
                if (now == InFlight)
                {
                    allIn.TrySetResult();
                }

                // The first wave waits until all 16 are in, so 16 requests really do run at once.
                await allIn.Task.WaitAsync(Deadline);
                return await run(i);
            }
            finally
            {
                Interlocked.Decrement(ref running);
                gate.Release();
            }
        })).ToArray();

        string[] together = await Task.WhenAll(tasks).WaitAsync(Deadline);

        Assert.AreEqual(InFlight, peak, "the test never had 16 requests in flight at once");
        for (int i = 0; i < RequestCount; i++)
        {
            Assert.AreEqual(solo[i], together[i], $"request {i} gave a different text when run beside others");
        }

        Assert.IsGreaterThan(RequestCount / 2, solo.Distinct().Count(), "the requests are too alike to show that outputs do not mix");
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
