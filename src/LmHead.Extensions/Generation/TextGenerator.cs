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
/// Concurrent requests are batched continuously: every generator over the same model shares one scheduler, which runs
/// one model call per step for every active request (one token each for decoding requests, one chunk of at most 64
/// prompt tokens for a prefilling one), projects their hidden states with one batched head projection and lets each
/// request choose its own token. Requests join and leave between steps. Each request has its own cache and its own
/// <see cref="SamplingRandom"/> seeded from <see cref="DecodingOptions.Seed"/>, and every row of a step is computed as if
/// it ran alone, so its output does not depend on other requests. Up to 16 chunks wait for a consumer; a request
/// whose consumer has not read them sits out until it does, so no stream waits for another's reader. Every tensor of a
/// step lives in a dispose scope, so memory does not grow with the length of a generation beyond the cache. When the
/// model's context (<c>n_positions</c>) is full, generation ends with <see cref="FinishReason.Length"/>; a prompt
/// longer than the context is rejected. The literal text of a special token in a prompt encodes as plain text unless
/// <see cref="GenerationOptions.AllowSpecialTokensInPrompt"/> is set.
/// </remarks>
public sealed class TextGenerator
{
    private readonly CausalLanguageModel _model;
    private readonly Tokenizer _tokenizer;
    private readonly GenerationScheduler _scheduler;
    private readonly IReadOnlySet<int> _endOfSequenceTokenIds = new HashSet<int>();
    private readonly int[] _promptPrefixTokenIds = [];

    /// <summary>Creates a generator over a model and the tokenizer it was trained with.</summary>
    /// <param name="model">The model; the caller keeps ownership.</param>
    /// <param name="tokenizer">The tokenizer.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public TextGenerator(CausalLanguageModel model, Tokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        _model = model;
        _tokenizer = tokenizer;
        _scheduler = GenerationScheduler.For(model);
    }

    /// <summary>Creates a generator over a loaded checkpoint's model and tokenizer.</summary>
    /// <param name="pretrained">The checkpoint; the caller keeps ownership.</param>
    /// <exception cref="ArgumentNullException"><paramref name="pretrained"/> is null.</exception>
    public TextGenerator(Gpt2Pretrained pretrained)
        : this((pretrained ?? throw new ArgumentNullException(nameof(pretrained))).Model, pretrained.Tokenizer)
    {
    }

    /// <summary>Creates a generator over a loaded checkpoint's model and tokenizer, whatever its architecture.</summary>
    /// <param name="pretrained">The checkpoint; the caller keeps ownership.</param>
    /// <exception cref="ArgumentNullException"><paramref name="pretrained"/> is null.</exception>
    public TextGenerator(PretrainedModel pretrained)
        : this((pretrained ?? throw new ArgumentNullException(nameof(pretrained))).Model, pretrained.Tokenizer)
    {
        _promptPrefixTokenIds = [.. pretrained.PromptPrefixTokenIds];
    }

    /// <summary>
    /// Token ids put before every prompt that does not already start with them, as Hugging Face's tokenizer does when it
    /// encodes a text (the BOS token of Llama 2/3, TinyLlama and Mistral). A generator made from a
    /// <see cref="PretrainedModel"/> takes its <see cref="PretrainedModel.PromptPrefixTokenIds"/>; empty otherwise. Chat
    /// prompts rendered from a chat template get none (the template writes its own BOS, as <c>apply_chat_template</c>).
    /// </summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An id is negative (the message names it).</exception>
    public IReadOnlyList<int> PromptPrefixTokenIds
    {
        get => _promptPrefixTokenIds;
        init
        {
            ArgumentNullException.ThrowIfNull(value);
            foreach (int id in value)
            {
                ArgumentOutOfRangeException.ThrowIfNegative(id, nameof(PromptPrefixTokenIds));
            }

            _promptPrefixTokenIds = [.. value];
        }
    }

    /// <summary>
    /// Token ids that end generation (<see cref="FinishReason.EndOfText"/>) besides the model's own <c>eos_token_id</c>:
    /// an instruct model's end-of-turn tokens, as <see cref="Chat.ChatModelMetadata.EndOfSequenceTokenIds"/> reads them
    /// from its folder. Empty by default.
    /// </summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The set holds a negative id (the message names it).</exception>
    public IReadOnlySet<int> EndOfSequenceTokenIds
    {
        get => _endOfSequenceTokenIds;
        init
        {
            ArgumentNullException.ThrowIfNull(value);
            foreach (int id in value)
            {
                ArgumentOutOfRangeException.ThrowIfNegative(id, nameof(EndOfSequenceTokenIds));
            }

            _endOfSequenceTokenIds = value;
        }
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
        int[] promptIds = EncodePrompt(prompt, options.AllowSpecialTokensInPrompt, options.ContextOverflow, !options.WithoutPromptPrefix);
        var pipeline = options.BuildPipeline(_tokenizer, _model.EosTokenIds.Count > 0 ? _model.EosTokenIds[0] : null);
        ThrowIfModelDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        var request = new GenerationRequest(this, _model, promptIds, options, pipeline);
        _scheduler.Join(request);
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var chunk = await request.ReadAsync(cancellationToken).ConfigureAwait(false);
                _scheduler.Wake();

                // Chunks computed before a disposal are not delivered after it: in-flight requests fail instead.
                ThrowIfModelDisposed();
                yield return chunk;
                if (chunk.FinishReason is not null)
                {
                    yield break;
                }
            }
        }
        finally
        {
            await _scheduler.LeaveAsync(request).ConfigureAwait(false);
        }
    }

    /// <summary>The tokenizer the generator encodes and decodes with.</summary>
    internal Tokenizer Tokenizer => _tokenizer;

    /// <summary>The scheduler shared by every generator over this generator's model.</summary>
    internal GenerationScheduler Scheduler => _scheduler;

    /// <summary>Throws the model's own <see cref="ObjectDisposedException"/> if it has been disposed.</summary>
    private void ThrowIfModelDisposed()
    {
        if (_model.IsDisposed)
        {
            _model.EnterUse().Dispose();
        }
    }

    /// <summary>The model's context window (<c>n_positions</c>).</summary>
    internal int ContextLength => _model.ContextLength;

    /// <summary>How many tokens <paramref name="prompt"/> encodes to (before any truncation), for callers that fit a prompt to the context.</summary>
    internal int CountPromptTokens(string prompt, bool allowSpecialTokens, bool withPrefix = true) => WithPrefix(PromptEncoding.Encode(_tokenizer, prompt, allowSpecialTokens), withPrefix).Length;

    /// <summary>Encodes a prompt as the generator will feed it to the model, with the same checks.</summary>
    internal int[] EncodePrompt(string prompt, bool allowSpecialTokens, ContextOverflow overflow = ContextOverflow.Error, bool withPrefix = true)
    {
        int[] ids = WithPrefix(PromptEncoding.Encode(_tokenizer, prompt, allowSpecialTokens), withPrefix);
        if (ids.Length == 0)
        {
            ids = _model.BosTokenId is { } bos ? [bos]
                : throw new ArgumentException("The prompt is empty and the model has no bos_token_id to start from.", nameof(prompt));
        }

        // A tokenizer with a larger vocabulary than the model's (GPT-2's tokenizer on a small custom model) would
        // otherwise fail deep in the forward pass with a message about tensor ids.
        int vocabulary = _model.VocabularySize;
        if (ids.FirstOrDefault(id => id < 0 || id >= vocabulary, -1) is var unknown and not -1)
        {
            throw new ArgumentException(
                $"The prompt encodes to token id {unknown}, outside the model's vocabulary of {vocabulary} tokens; is the tokenizer the one the model was trained with?", nameof(prompt));
        }

        int context = _model.ContextLength;
        if (overflow == ContextOverflow.SlidingWindow && ids.Length > context - (context / 4))
        {
            // Keep the prompt's end, leaving a quarter of the context for generation before the window first slides
            // (and the prefix, which starts every text the model saw).
            int keep = context - (context / 4);
            int prefix = withPrefix && ids.AsSpan().StartsWith(_promptPrefixTokenIds) ? _promptPrefixTokenIds.Length : 0;
            ids = prefix > 0 && keep > prefix ? [.. ids[..prefix], .. ids[^(keep - prefix)..]] : ids[^keep..];
        }

        if (ids.Length > context)
        {
            throw new ArgumentException(
                $"The prompt is {ids.Length} tokens long, but the model's context holds at most n_positions = {context}; set GenerationOptions.ContextOverflow (context_overflow) to SlidingWindow (\"sliding_window\") to keep the prompt's last tokens instead.", nameof(prompt));
        }

        return ids;
    }

    private int[] WithPrefix(int[] ids, bool withPrefix) =>
        !withPrefix || _promptPrefixTokenIds.Length == 0 || ids.AsSpan().StartsWith(_promptPrefixTokenIds) ? ids : [.. _promptPrefixTokenIds, .. ids];

    /// <summary>Chooses one request's token from its row of logits <c>[V]</c> (float32), with its log-probabilities on request.</summary>
    internal (int TokenId, TokenLogProbability? LogProbability) Step(
        Tensor logits, DecodingPipeline pipeline, SamplingRandom random, GenerationOptions options, TokenHistory history)
    {
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
