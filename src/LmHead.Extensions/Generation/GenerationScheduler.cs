using System.Runtime.CompilerServices;
using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Generation;

/// <summary>
/// Continuous batching for one <see cref="CausalLanguageModel"/>: every step gathers the next input of each active request (one
/// token for a decoding request, one prompt chunk for a prefilling one), runs one
/// <see cref="CausalLanguageModel.ComputeLastHiddenStates"/> call for all of them, projects the rows that draw a token with one
/// batched head projection, and lets each request choose, decode and deliver its token on its own. Requests join and
/// leave between steps.
/// </summary>
/// <remarks>
/// <para>One scheduler per model, shared by every <see cref="TextGenerator"/> over that model (the Semantic Kernel
/// service and the chat client included), so concurrent requests to one model always share its steps.</para>
/// <para>Reproducibility: a request's cache, random stream, pipeline and chunk boundaries are its own, the model call
/// and the head give each row what it would get alone, so its output does not depend on what runs beside it.</para>
/// <para>Fairness: a prompt is fed in chunks of <see cref="PrefillChunkSize"/> tokens, and a step carries at most that many
/// prompt tokens (at least one chunk; prefilling requests take turns in the order they joined), so prompts delay the
/// decoding requests of a step by at most one chunk's work, and decoding requests never delay a prefill by more than
/// their one token each. A request whose consumer has <see cref="GenerationRequest.MaxUnreadChunks"/> chunks unread sits out until
/// it reads; no step ever waits for a consumer.</para>
/// </remarks>
internal sealed partial class GenerationScheduler
{
    /// <summary>How many prompt tokens a request feeds per step while it prefills.</summary>
    internal const int PrefillChunkSize = 64;

    // The model is the shared resource, so its scheduler is found from the model: generators created independently over
    // one model (a kernel's text service and chat client) batch together. Weak keys: the entry dies with the model.
    private static readonly ConditionalWeakTable<CausalLanguageModel, GenerationScheduler> s_byModel = [];

    private readonly CausalLanguageModel _model;
    private readonly Lock _sync = new();
    private readonly List<GenerationRequest> _active = [];
    private bool _running;
    private TaskCompletionSource? _idle;

    private GenerationScheduler(CausalLanguageModel model) => _model = model;

    /// <summary>The scheduler of <paramref name="model"/>, created on first use.</summary>
    internal static GenerationScheduler For(CausalLanguageModel model) => s_byModel.GetValue(model, m => new GenerationScheduler(m));

    /// <summary>
    /// For tests: called on the step thread after every successful step, once its tensors are freed and finished requests'
    /// caches disposed but before its chunks are delivered, with the number of tokens each row fed.
    /// </summary>
    internal Action<IReadOnlyList<int>>? StepCompleted { get; set; }

    /// <summary>Adds a request; it takes part from the next step on.</summary>
    internal void Join(GenerationRequest request)
    {
        bool start;
        lock (_sync)
        {
            _active.Add(request);
            start = !_running;
            _running = true;
        }

        if (start)
        {
            _ = Task.Run(RunGuardedAsync);
        }
        else
        {
            Wake();
        }
    }

    /// <summary>Wakes the loop if it is waiting for a consumer to make room.</summary>
    internal void Wake()
    {
        TaskCompletionSource? idle;
        lock (_sync)
        {
            idle = _idle;
            _idle = null;
        }

        idle?.TrySetResult();
    }

    /// <summary>Removes a request whose consumer is done with it (finished, canceled or abandoned) and disposes its cache.</summary>
    /// <returns>A task that completes once the cache is disposed: at once, or after the step that holds the request.</returns>
    internal Task LeaveAsync(GenerationRequest request)
    {
        lock (_sync)
        {
            if (request.Removed)
            {
                return Task.CompletedTask;
            }

            if (request.InStep)
            {
                request.LeaveRequested = true;
                return request.Released.Task;
            }

            _active.Remove(request);
            request.Removed = true;
        }

        request.Cache.Dispose();
        Wake();
        return Task.CompletedTask;
    }

    /// <summary>Runs the loop; should the loop itself fail, every request gets the failure instead of waiting forever.</summary>
    private async Task RunGuardedAsync()
    {
        try
        {
            await RunAsync().ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Not swallowed: every request in the scheduler receives it.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            GenerationRequest[] failed;
            lock (_sync)
            {
                failed = [.. _active];
                _active.Clear();
                _running = false;
                foreach (var request in failed)
                {
                    request.InStep = false;
                    request.Removed = true;
                    request.Fail(ex);
                }
            }

            foreach (var request in failed)
            {
                request.Cache.Dispose();
                request.Deliver(null);
                request.Released.TrySetResult();
            }
        }
    }

    private async Task RunAsync()
    {
        while (true)
        {
            GenerationRequest[] batch;
            Task? idle = null;
            lock (_sync)
            {
                if (_active.Count == 0)
                {
                    _running = false;
                    return;
                }

                batch = ChooseBatch();
                foreach (var request in batch)
                {
                    request.InStep = true;
                }

                if (batch.Length == 0)
                {
                    _idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    idle = _idle.Task;
                }
            }

            if (idle is not null)
            {
                await idle.ConfigureAwait(false);
                continue;
            }

            RunStep(batch);
        }
    }

    /// <summary>
    /// Every request with room in its buffer, except that a step feeds at most <see cref="PrefillChunkSize"/> prompt
    /// tokens (and at least one chunk): prefilling requests are admitted in the order they joined while their chunks
    /// fit, so however many long prompts arrive at once, the decoding requests wait at most one chunk's work per step.
    /// </summary>
    private GenerationRequest[] ChooseBatch()
    {
        var batch = new List<GenerationRequest>(_active.Count);
        int promptTokens = 0;
        foreach (var request in _active)
        {
            if (!request.HasRoom || !ConstraintAllowsDrawing(request))
            {
                continue;
            }

            int chunk = request.NextPromptTokens;
            if (chunk > 0 && promptTokens > 0 && promptTokens + chunk > PrefillChunkSize)
            {
                continue;
            }

            promptTokens += chunk;
            batch.Add(request);
        }

        return [.. batch];
    }

    private void RunStep(GenerationRequest[] batch)
    {
        var chunks = new GenerationChunk?[batch.Length];
        int[] fed = [];
        Exception? failure = null;
        try
        {
            fed = Compute(batch, chunks);
        }
#pragma warning disable CA1031 // The step's failure belongs to its requests: each consumer receives it.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            failure = ex;
        }

        var leaving = new List<GenerationRequest>();
        var delivered = new List<(GenerationRequest Request, GenerationChunk? Chunk)>();
        lock (_sync)
        {
            for (int i = 0; i < batch.Length; i++)
            {
                batch[i].InStep = false;
                if (failure is not null)
                {
                    batch[i].Fail(failure);
                }

                delivered.Add((batch[i], chunks[i]));
            }

            // A disposed model can serve no one: the requests sitting out fail too.
            if (failure is ObjectDisposedException && _model.IsDisposed)
            {
                foreach (var request in _active.Where(r => !batch.Contains(r)))
                {
                    request.Fail(failure);
                    delivered.Add((request, null));
                }
            }

            foreach (var request in _active.Where(r => r.IsFinished || r.LeaveRequested).ToArray())
            {
                _active.Remove(request);
                request.Removed = true;
                leaving.Add(request);
            }
        }

        // Caches go before the chunks do, so a consumer that sees its last chunk sees every tensor of its request freed.
        foreach (var request in leaving)
        {
            request.Cache.Dispose();
        }

        if (failure is null)
        {
            StepCompleted?.Invoke(fed);
        }

        foreach (var (request, chunk) in delivered)
        {
            request.Deliver(chunk);
        }

        foreach (var request in leaving)
        {
            request.Released.TrySetResult();
        }
    }

    /// <summary>Runs the model for the batch and chooses a token for every request whose prompt is in; returns the tokens fed per row.</summary>
    private int[] Compute(GenerationRequest[] batch, GenerationChunk?[] chunks)
    {
        using var use = _model.EnterUse();
        using var scope = NewDisposeScope();
        int[][] inputs = [.. batch.Select(r => r.NextInput())];
        long[] drawing = [.. Enumerable.Range(0, batch.Length).Where(i => batch[i].DrawsAfter(inputs[i])).Select(i => (long)i)];
        var hidden = _model.ComputeLastHiddenStates([.. batch.Select(r => r.Cache)], inputs);
        for (int i = 0; i < batch.Length; i++)
        {
            batch[i].Fed(inputs[i]);
        }

        if (drawing.Length > 0)
        {
            using var projector = _model.GetOutputEmbeddings();
            var rows = drawing.Length == batch.Length ? hidden : hidden.index_select(0, tensor(drawing, device: hidden.device));
            var logits = BatchedHeadProjection.Project(projector, rows);
            for (int j = 0; j < drawing.Length; j++)
            {
                var request = batch[drawing[j]];
                try
                {
                    var (token, logProbability) = request.Generator.Step(logits[j], request.Pipeline, request.StepRandom, request.Options, request.History);
                    chunks[drawing[j]] = request.Accept(token, logProbability);
                }
#pragma warning disable CA1031 // One request's failure (a token its tokenizer cannot decode, a pipeline that removed every token) is its own.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    request.Fail(ex);
                }
            }
        }

        return [.. inputs.Select(input => input.Length)];
    }
}
