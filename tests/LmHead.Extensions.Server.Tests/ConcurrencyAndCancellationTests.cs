using System.Diagnostics;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Generation;
using LmHead.Extensions.SemanticKernel.Diagnostics;
using OpenAI.Chat;

namespace LmHead.Extensions.Server.Tests;

/// <summary>Concurrent SDK clients get what each would get alone; a client that disconnects mid-stream cancels its generation.</summary>
[TestClass]
public sealed class ConcurrencyAndCancellationTests
{
    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public async Task EightConcurrentClientsEachGetTheirSeedsReply()
    {
        var server = await ServerFixture.ServerAsync();
        const string question = "Speak, what say you?";
        var expected = new string[8];
        for (int i = 0; i < expected.Length; i++)
        {
            expected[i] = (await ServerFixture.ExpectedChatAsync(question, new GenerationOptions
            {
                MaxNewTokens = 12, Decoding = DecodingOptions.Default with { Seed = (ulong)(100 + i), Temperature = 1.3f },
            })).Text;
        }

        var replies = await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
        {
            // Each client has its own SDK instance (and connection), as separate callers would.
            var chat = server.CreateClient().GetChatClient(ServerFixture.ModelId);
            var options = new ChatCompletionOptions { Seed = 100 + i, MaxOutputTokenCount = 12, Temperature = 1.3f };
            if (i % 2 == 0)
            {
                return (await chat.CompleteChatAsync([new UserChatMessage(question)], options)).Value.Content[0].Text;
            }

            var text = new System.Text.StringBuilder();
            await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage(question)], options))
            {
                text.Append(string.Concat(update.ContentUpdate.Select(p => p.Text)));
            }

            return text.ToString();
        }));

        CollectionAssert.AreEqual(expected, replies);
    }

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public async Task ClientDisconnectingMidStreamCancelsItsGeneration()
    {
        const string modelId = "tiny-long";
        await using var server = await LoopbackServer.StartAsync(ServerFixture.LongContextGenerator, modelId);
        var ended = new TaskCompletionSource<Activity>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == LmHeadTelemetry.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if ((string?)activity.GetTagItem("gen_ai.request.model") == modelId)
                {
                    ended.TrySetResult(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        var chat = server.CreateClient().GetChatClient(modelId);

        int received = 0;
        await foreach (var update in chat.CompleteChatStreamingAsync(
            [new UserChatMessage("Tell me a long story.")], new ChatCompletionOptions { MaxOutputTokenCount = 4000, Seed = 1, StopSequences = { "\u0001" } }))
        {
            if (update.ContentUpdate.Count > 0 && ++received == 2)
            {
                break;  // disposes the response: the connection closes mid-stream
            }
        }

        // A generation of 4,000 tokens that ran to the end would stop with its usage and no error.
        var activity = await ended.Task.WaitAsync(TimeSpan.FromMinutes(4));
        Assert.AreEqual(ActivityStatusCode.Error, activity.Status);
        StringAssert.Contains((string?)activity.GetTagItem("error.type"), "Canceled");
        Assert.IsNull(activity.GetTagItem("gen_ai.usage.output_tokens"));
    }
}
