using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.Tests.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Reliability;

/// <summary>
/// Canceling a stream mid-way frees every tensor it made; disposing the model while requests are in flight makes them
/// fail with <see cref="ObjectDisposedException"/> (never a native crash or a hang), and so does every later call.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class CancellationAndDisposalTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(2);

    /// <summary>A tiny model with GPT-2's vocabulary (so any prompt encodes) and no end-of-text token, so streams only end at the limit.</summary>
    internal static Gpt2Config LongContextConfig() => new()
    {
        HiddenSize = 8, LayerCount = 1, HeadCount = 2, MaxPositions = 2048, VocabularySize = 50257, BosTokenId = 50256, EosTokenId = null,
    };

    internal static void Collect()
    {
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public async Task CancelingMidStreamReturnsTheLiveTensorCountToItsBaseline()
    {
        string folder = TinyGpt2.CreateFolder(LongContextConfig(), seed: 3);
        using var pretrained = Gpt2Pretrained.Load(folder);
        var generator = new TextGenerator(pretrained);
        var options = new GenerationOptions { MaxNewTokens = 1000, IncludeLogProbabilities = true, TopLogProbabilities = 5, Decoding = new() { Seed = 1 } };
        await generator.GenerateAsync("warm up", options with { MaxNewTokens = 3 });
        Collect();
        long baseline = Tensor.TotalCount;

        using var cancellation = new CancellationTokenSource();
        int received = 0;
        await Assert.ThrowsAsync<OperationCanceledException>(async () =>
        {
            await foreach (var chunk in generator.GenerateStreamingAsync("The sea was", options, cancellation.Token))
            {
                if (++received == 20)
                {
                    await cancellation.CancelAsync();
                }
            }
        });
        Collect();

        Assert.AreEqual(20, received, "cancellation must stop the stream before the next token");
        Assert.AreEqual(baseline, Tensor.TotalCount, "a canceled stream left tensors alive");
    }

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public async Task DisposingTheModelFailsInFlightRequestsWithObjectDisposedException()
    {
        string folder = TinyGpt2.CreateFolder(LongContextConfig(), seed: 4);
        var pretrained = Gpt2Pretrained.Load(folder);
        var generator = new TextGenerator(pretrained);
        const int requests = 8;
        using var started = new CountdownEvent(requests);
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var tasks = Enumerable.Range(0, requests).Select(i => Task.Run(async () =>
        {
            bool first = true;
            await foreach (var chunk in generator.GenerateStreamingAsync("Request " + i, new GenerationOptions { MaxNewTokens = 2000, Decoding = new() { Seed = (ulong)i } }))
            {
                if (first)
                {
                    // The model lock is not fair, so hold every request after its first token until all have one;
                    // otherwise one request could finish before another starts.
                    first = false;
                    started.Signal();
                    await go.Task;
                }
            }
        })).ToArray();
        Assert.IsTrue(started.Wait(Deadline), "the requests did not start");

        // Let them run, so the disposal lands between and during native steps, then dispose.
        go.SetResult();
        await Task.Delay(100);
        pretrained.Dispose();

        foreach (var task in tasks)
        {
            var ex = await Assert.ThrowsAsync<ObjectDisposedException>(() => task.WaitAsync(Deadline));
            Assert.Contains("disposed", ex.Message);
        }

        Assert.IsTrue(pretrained.Model.IsDisposed);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => generator.GenerateAsync("after", new GenerationOptions { MaxNewTokens = 2 }));
    }

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public async Task WithManyStreamsInFlightEachProducesAtMostOneTokenAfterDisposeReturns()
    {
        // 32 long streams (none can end by itself before the model is gone). Disposal is expressed in steps, not time:
        // once Dispose has returned, a stream may still deliver the token of a step that had already finished, and
        // then fails with ObjectDisposedException; none finishes normally.
        string folder = TinyGpt2.CreateFolder(LongContextConfig(), seed: 5);
        var pretrained = Gpt2Pretrained.Load(folder);
        var generator = new TextGenerator(pretrained);
        const int requests = 32;
        const int maxNewTokens = 2000;
        using var started = new CountdownEvent(requests);
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var enoughTokens = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int totalTokens = 0;
        int disposeReturned = 0;
        var afterDispose = new int[requests];
        var received = new int[requests];
        var tasks = Enumerable.Range(0, requests).Select(i => Task.Run(async () =>
        {
            bool first = true;
            await foreach (var chunk in generator.GenerateStreamingAsync("Stream " + i, new GenerationOptions { MaxNewTokens = maxNewTokens, Decoding = new() { Seed = (ulong)i } }))
            {
                received[i]++;
                if (Volatile.Read(ref disposeReturned) == 1)
                {
                    afterDispose[i]++;
                }

                if (Interlocked.Increment(ref totalTokens) == 4 * requests)
                {
                    enoughTokens.TrySetResult();
                }

                if (first)
                {
                    first = false;
                    started.Signal();
                    await go.Task;
                }
            }
        })).ToArray();
        Assert.IsTrue(started.Wait(Deadline), "the requests did not start");
        go.SetResult();
        await enoughTokens.Task.WaitAsync(Deadline);

        pretrained.Dispose();
        Volatile.Write(ref disposeReturned, 1);

        int disposedFailures = 0;
        for (int i = 0; i < requests; i++)
        {
            var ex = await Assert.ThrowsAsync<ObjectDisposedException>(() => tasks[i].WaitAsync(Deadline), $"stream {i} after {received[i]} tokens");
            Assert.Contains("disposed", ex.Message);
            disposedFailures++;
            Assert.IsLessThanOrEqualTo(1, afterDispose[i], $"stream {i} produced {afterDispose[i]} tokens after Dispose returned");
            Assert.IsLessThan(maxNewTokens, received[i], $"stream {i} finished");
        }

        Assert.AreEqual(requests, disposedFailures);
        Assert.IsTrue(pretrained.Model.IsDisposed);
    }

    [TestMethod]
    public void EveryModelCallAfterDisposeThrowsObjectDisposedException()
    {
        var model = new Gpt2Model(TinyGpt2.Config());
        using var ids = tensor(new long[] { 1, 2, 3 });
        model.Dispose();
        model.Dispose();

        Assert.ThrowsExactly<ObjectDisposedException>(() => model.ComputeHiddenStates(ids));
        Assert.ThrowsExactly<ObjectDisposedException>(() => model.ComputeLogits(ids));
        Assert.ThrowsExactly<ObjectDisposedException>(() => model.forward(ids));
        Assert.ThrowsExactly<ObjectDisposedException>(() => model.GetOutputEmbeddings());
    }
}
