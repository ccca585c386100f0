using System.Runtime.CompilerServices;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Models;
using Microsoft.ML.Tokenizers;
using static TorchSharp.torch;

namespace LmHead.Extensions.Generation;

/// <summary>
/// Generates text with a GPT-2 model: prompt → tokens → repeated (model step with a KV cache → last hidden state →
/// <see cref="LogitsProjector"/> → <see cref="DecodingPipeline"/> → token), streamed as text as it becomes final.
/// </summary>
/// <remarks>
/// One generator can serve concurrent requests: each request has its own cache and its own <see cref="SamplingRandom"/>
/// seeded from <see cref="DecodingOptions.Seed"/>, so its output does not depend on other requests; model steps are
/// serialized by a lock. Every tensor of a step lives in a dispose scope, so memory does not grow with the length of
/// a generation beyond the cache. When the model's context (<c>n_positions</c>) is full, generation ends with
/// <see cref="FinishReason.Length"/>; a prompt longer than the context is rejected. The literal text of a special token
/// in a prompt encodes as plain text unless <see cref="GenerationOptions.AllowSpecialTokensInPrompt"/> is set.
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage(
    "Design", "CA1001:Types that own disposable fields should be disposable",
    Justification = "The SemaphoreSlim is only waited on asynchronously, so it never creates the wait handle Dispose would free.")]
public sealed class TextGenerator
{
    private readonly Gpt2Model _model;
    private readonly Tokenizer _tokenizer;
    // Serializes model steps. A request waits for its turn asynchronously (first come, first served), so requests
    // queued behind the running step hold no thread-pool thread: with many streams in flight, blocked threads starved
    // the pool, and a caller disposing the model (or any other continuation) waited for thread injection.
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>Creates a generator over a model and the tokenizer it was trained with.</summary>
    /// <param name="model">The model; the caller keeps ownership.</param>
    /// <param name="tokenizer">The tokenizer.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public TextGenerator(Gpt2Model model, Tokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        _model = model;
        _tokenizer = tokenizer;
    }

    /// <summary>Creates a generator over a loaded checkpoint's model and tokenizer.</summary>
    /// <param name="pretrained">The checkpoint; the caller keeps ownership.</param>
    /// <exception cref="ArgumentNullException"><paramref name="pretrained"/> is null.</exception>
    public TextGenerator(Gpt2Pretrained pretrained)
        : this((pretrained ?? throw new ArgumentNullException(nameof(pretrained))).Model, pretrained.Tokenizer)
    {
    }

    /// <summary>Generates a completion and returns it whole.</summary>
    /// <param name="prompt">The prompt text.</param>
    /// <param name="options">The options, or <see langword="null"/> for the defaults.</param>
    /// <param name="cancellationToken">Checked before every token.</param>
    /// <returns>The completion, its finish reason and token counts.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="prompt"/> is null.</exception>
    /// <exception cref="ArgumentException">The prompt is empty and the model has no BOS token, is longer than the model's context, or encodes to a token outside the model's vocabulary.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    /// <exception cref="ObjectDisposedException">The model was disposed before or during the request.</exception>
    public async Task<GenerationResult> GenerateAsync(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var text = new System.Text.StringBuilder();
        var ids = new List<int>();
        var logProbabilities = new List<TokenLogProbability>();
        GenerationChunk? last = null;
        await foreach (var chunk in GenerateStreamingAsync(prompt, options, cancellationToken))
        {
            text.Append(chunk.Text);
            ids.AddRange(chunk.TokenIds);
            logProbabilities.AddRange(chunk.LogProbabilities);
            last = chunk;
        }

        return new GenerationResult
        {
            Text = text.ToString(),
            FinishReason = last!.FinishReason!.Value,
            TokenIds = ids,
            LogProbabilities = logProbabilities,
            PromptTokenCount = last.PromptTokenCount,
            CompletionTokenCount = last.CompletionTokenCount,
        };
    }

    /// <summary>Generates a completion as a stream of chunks; the last chunk carries the finish reason.</summary>
    /// <param name="prompt">The prompt text.</param>
    /// <param name="options">The options, or <see langword="null"/> for the defaults.</param>
    /// <param name="cancellationToken">Checked before every token.</param>
    /// <returns>The chunks, in order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="prompt"/> is null.</exception>
    /// <exception cref="ArgumentException">The prompt is empty and the model has no BOS token, is longer than the model's context, or encodes to a token outside the model's vocabulary.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    /// <exception cref="ObjectDisposedException">The model was disposed before or during the request.</exception>
    public async IAsyncEnumerable<GenerationChunk> GenerateStreamingAsync(
        string prompt, GenerationOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options ??= new GenerationOptions();
        int[] promptIds = EncodePrompt(prompt, options.AllowSpecialTokensInPrompt);
        int contextLeft = _model.Config.MaxPositions - promptIds.Length + 1;
        int budget = Math.Min(options.MaxNewTokens, contextLeft);
        var pipeline = options.BuildPipeline();
        var generatedIds = new List<int>();
        var history = new TokenHistory(promptIds, generatedIds);
        ulong? requestSeed = options.Pipeline is { } fixedPipeline ? fixedPipeline.Seed : options.Decoding.Seed;
        var random = requestSeed is { } seed ? new SamplingRandom(seed) : SamplingRandom.CreateUnseeded();
        var decoder = new IncrementalTextDecoder(_tokenizer);
        var matcher = new StopSequenceMatcher(options.StopSequences);
        int? endOfText = _model.Config.EosTokenId;

        using var cache = _model.CreateKvCache();
        using var projector = _model.GetOutputEmbeddings();
        int[] input = promptIds;
        int generated = 0;
        FinishReason? finish = null;
        while (finish is null)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int[] stepInput = input;
            var stepRandom = pipeline.DrawsKeyedByStep ? SamplingRandom.ForStream(pipeline.Seed!.Value, (ulong)generated) : random;
            (int TokenId, TokenLogProbability? LogProbability) step;
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                step = await Task.Run(() => Step(stepInput, cache, projector, pipeline, stepRandom, options, history), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _gate.Release();
            }

            generated++;
            generatedIds.Add(step.TokenId);
            input = [step.TokenId];
            string text = "";
            if (step.TokenId == endOfText)
            {
                finish = FinishReason.EndOfText;
            }
            else
            {
                text = matcher.Push(decoder.Push(step.TokenId));
                if (matcher.Stopped)
                {
                    finish = FinishReason.StopSequence;
                }
                else if (generated >= budget)
                {
                    finish = FinishReason.Length;
                }
            }

            if (finish is not null && !matcher.Stopped)
            {
                text += matcher.Push(decoder.Flush());
                text += matcher.Flush();
                if (matcher.Stopped)
                {
                    finish = FinishReason.StopSequence;
                }
            }

            yield return new GenerationChunk
            {
                Text = text,
                TokenIds = [step.TokenId],
                LogProbabilities = step.LogProbability is { } lp ? [lp] : [],
                FinishReason = finish,
                PromptTokenCount = promptIds.Length,
                CompletionTokenCount = generated,
            };
        }
    }

    /// <summary>Encodes a prompt as the generator will feed it to the model, with the same checks.</summary>
    internal int[] EncodePrompt(string prompt, bool allowSpecialTokens)
    {
        int[] ids = PromptEncoding.Encode(_tokenizer, prompt, allowSpecialTokens);
        if (ids.Length == 0)
        {
            ids = _model.Config.BosTokenId is { } bos ? [bos]
                : throw new ArgumentException("The prompt is empty and the model has no bos_token_id to start from.", nameof(prompt));
        }

        // A tokenizer with a larger vocabulary than the model's (GPT-2's tokenizer on a small custom model) would
        // otherwise fail deep in the forward pass with a message about tensor ids.
        int vocabulary = _model.Config.VocabularySize;
        if (ids.FirstOrDefault(id => id < 0 || id >= vocabulary, -1) is var unknown and not -1)
        {
            throw new ArgumentException(
                $"The prompt encodes to token id {unknown}, outside the model's vocabulary of {vocabulary} tokens; is the tokenizer the one the model was trained with?", nameof(prompt));
        }

        if (ids.Length > _model.Config.MaxPositions)
        {
            throw new ArgumentException(
                $"The prompt is {ids.Length} tokens long, but the model's context holds at most n_positions = {_model.Config.MaxPositions}.", nameof(prompt));
        }

        return ids;
    }

    private (int TokenId, TokenLogProbability? LogProbability) Step(
        int[] input, Gpt2KvCache cache, LogitsProjector projector, DecodingPipeline pipeline, SamplingRandom random, GenerationOptions options,
        TokenHistory history)
    {
        using var use = _model.EnterUse();
        using var scope = NewDisposeScope();
        using var ids = tensor(input.Select(i => (long)i).ToArray(), device: _model.Device);
        var hidden = _model.ComputeHiddenStates(ids, cache);
        var logits = projector.Project(hidden[-1]).to_type(ScalarType.Float32);
        if (!options.IncludeLogProbabilities)
        {
            return (pipeline.NextToken(logits, random, history).TokenId, null);
        }

        // Log-probabilities under the processed distribution the token was drawn from (and, on request, the raw one).
        var next = pipeline.NextTokenWithLogProbabilities(logits, random, history, new(options.TopLogProbabilities, options.IncludeRawLogProbabilities));
        var report = next.LogProbabilities!;
        TokenAlternative[] alternatives = [.. report.Top.Select(a => new TokenAlternative(a.TokenId, _tokenizer.Decode([a.TokenId]), a.LogProbability, a.RawLogProbability))];
        return (next.TokenId, new TokenLogProbability(next.TokenId, _tokenizer.Decode([next.TokenId]), report.Chosen.LogProbability, alternatives, report.Chosen.RawLogProbability));
    }
}
