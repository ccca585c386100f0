using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Models;

namespace LmHead.Extensions.Generation;

/// <summary>
/// One generation in a <see cref="GenerationScheduler"/>: its own KV cache, pipeline, random stream, token history,
/// text decoder and stop matcher, its prompt fed in chunks of <see cref="GenerationScheduler.PrefillChunkSize"/> tokens,
/// and the bounded buffer its chunks wait in until the consumer reads them.
/// </summary>
/// <remarks>
/// The scheduler's step thread calls the step members (<see cref="NextInput"/> to <see cref="Deliver"/>); the consumer
/// only calls <see cref="ReadAsync"/>. The flags <see cref="InStep"/>, <see cref="LeaveRequested"/> and
/// <see cref="Removed"/> are guarded by the scheduler's lock.
/// </remarks>
internal sealed class GenerationRequest
{
    /// <summary>
    /// How many chunks may wait unread: a request whose consumer has not taken that many sits out the steps (keeping its
    /// cache) until it reads, so a slow or stalled consumer never holds up the other requests.
    /// </summary>
    internal const int MaxUnreadChunks = 16;

    private readonly Channel<GenerationChunk> _chunks =
        Channel.CreateBounded<GenerationChunk>(new BoundedChannelOptions(MaxUnreadChunks) { SingleReader = true, SingleWriter = true });

    private readonly int[] _promptIds;
    private readonly CausalLanguageModel _model;
    private readonly bool _slides;
    private int[] _feed;
    private readonly List<int> _generatedIds = [];
    private readonly SamplingRandom _random;
    private readonly IncrementalTextDecoder _decoder;
    private readonly StopSequenceMatcher _matcher;
    private readonly IReadOnlyList<int> _endOfText;
    private readonly int _budget;
    private int _promptFed;
    private int? _lastToken;
    private Exception? _failure;

    /// <summary>Creates a request and its (empty) cache.</summary>
    internal GenerationRequest(TextGenerator generator, CausalLanguageModel model, int[] promptIds, GenerationOptions options, DecodingPipeline pipeline)
    {
        Generator = generator;
        Options = options;
        Pipeline = pipeline;
        _promptIds = promptIds;
        _feed = promptIds;
        _model = model;
        _slides = options.ContextOverflow == ContextOverflow.SlidingWindow;
        History = new TokenHistory(promptIds, _generatedIds);
        ulong? requestSeed = options.Pipeline is { } fixedPipeline ? fixedPipeline.Seed : options.Decoding.Seed;
        _random = requestSeed is { } seed ? new SamplingRandom(seed) : SamplingRandom.CreateUnseeded();
        _decoder = new IncrementalTextDecoder(generator.Tokenizer);
        _matcher = new StopSequenceMatcher(options.StopSequences);
        _endOfText = model.EosTokenIds;
        _budget = _slides ? options.MaxNewTokens : Math.Min(options.MaxNewTokens, model.ContextLength - promptIds.Length + 1);
        Cache = model.CreateKvCache();
    }

    /// <summary>The generator the request came through (its tokenizer decodes the tokens).</summary>
    internal TextGenerator Generator { get; }

    /// <summary>The request's options.</summary>
    internal GenerationOptions Options { get; }

    /// <summary>The pipeline that chooses each token.</summary>
    internal DecodingPipeline Pipeline { get; }

    /// <summary>The prompt and the tokens generated so far, for penalty stages.</summary>
    internal TokenHistory History { get; }

    /// <summary>The request's own cache; disposed by the scheduler when the request leaves (replaced when the window slides).</summary>
    internal KvCache Cache { get; private set; }

    /// <summary>Whether the request is part of the step running now.</summary>
    internal bool InStep { get; set; }

    /// <summary>Whether the consumer left while the request was in a step.</summary>
    internal bool LeaveRequested { get; set; }

    /// <summary>Whether the scheduler has dropped the request (and disposed its cache).</summary>
    internal bool Removed { get; set; }

    /// <summary>Completed once the request has been removed after the consumer left during a step.</summary>
    internal TaskCompletionSource Released { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Whether the request produced its last chunk or failed: it takes part in no further step.</summary>
    internal bool IsFinished { get; private set; }

    /// <summary>Whether the buffer has room for the chunk of one more step.</summary>
    internal bool HasRoom => _chunks.Reader.Count < MaxUnreadChunks;

    /// <summary>The tokens of the next step: the last generated token, or the next chunk of the prompt.</summary>
    /// <remarks>Chunk boundaries depend only on the prompt's length, never on the other requests.</remarks>
    /// <remarks>
    /// With <see cref="ContextOverflow.SlidingWindow"/>, a decoding request whose cache is full starts a fresh cache fed
    /// with the last <c>n_positions / 2</c> tokens (the prompt's and the generated ones, ending with the token just drawn),
    /// in chunks like a prompt; its next token is drawn from that window.
    /// </remarks>
    internal int[] NextInput()
    {
        if (SlidePending)
        {
            SlideWindow();
        }

        return _lastToken is { } token ? [token] : _feed[_promptFed..Math.Min(_feed.Length, _promptFed + GenerationScheduler.PrefillChunkSize)];
    }

    /// <summary>How many times the window slid (each re-encoded <c>n_positions / 2</c> tokens).</summary>
    internal int Slides { get; private set; }

    /// <summary>How many prompt tokens the next step feeds: the next chunk's length while prefilling, else 0.</summary>
    internal int NextPromptTokens =>
        SlidePending ? Math.Min(Math.Min(_model.ContextLength / 2, _promptIds.Length + _generatedIds.Count), GenerationScheduler.PrefillChunkSize)
        : _lastToken is null ? Math.Min(_feed.Length - _promptFed, GenerationScheduler.PrefillChunkSize) : 0;

    // A decoding request whose cache is full and whose policy is the sliding window re-encodes its window next.
    private bool SlidePending => _slides && _lastToken is not null && Cache.Length >= _model.ContextLength;

    /// <summary>Whether the next step may draw a token: the request decodes, or its next prompt chunk is its last.</summary>
    internal bool DrawsNextStep => _lastToken is not null || _feed.Length - _promptFed <= GenerationScheduler.PrefillChunkSize;

    /// <summary>Whether the step that feeds <paramref name="input"/> ends the prompt (or decodes), so a token is drawn from its hidden state.</summary>
    internal bool DrawsAfter(int[] input) => _lastToken is not null || _promptFed + input.Length == _feed.Length;

    private void SlideWindow()
    {
        int keep = _model.ContextLength / 2;
        int[] all = [.. _promptIds, .. _generatedIds];
        _feed = all[^Math.Min(keep, all.Length)..];
        _promptFed = 0;
        _lastToken = null;
        var full = Cache;
        Cache = _model.CreateKvCache();
        full.Dispose();
        Slides++;
    }

    /// <summary>Records that the model has taken <paramref name="input"/> into the cache.</summary>
    internal void Fed(int[] input)
    {
        if (_lastToken is null)
        {
            _promptFed += input.Length;
        }
    }

    /// <summary>The generator of this step's draw: one stream per request, or one per step for step-keyed pipelines.</summary>
    internal SamplingRandom StepRandom =>
        Pipeline.DrawsKeyedByStep ? SamplingRandom.ForStream(Pipeline.Seed!.Value, (ulong)_generatedIds.Count) : _random;

    /// <summary>Takes the chosen token: decodes it, checks end of text, stop sequences and the length budget, and returns the chunk.</summary>
    /// <exception cref="InvalidOperationException">The tokenizer cannot decode the token.</exception>
    internal GenerationChunk Accept(int tokenId, TokenLogProbability? logProbability)
    {
        _generatedIds.Add(tokenId);
        _lastToken = tokenId;
        int generated = _generatedIds.Count;
        FinishReason? finish = null;
        string text = "";
        if (_endOfText.Contains(tokenId) || Generator.EndOfSequenceTokenIds.Contains(tokenId))
        {
            finish = FinishReason.EndOfText;
        }
        else
        {
            text = _matcher.Push(_decoder.Push(tokenId));
            if (_matcher.Stopped)
            {
                finish = FinishReason.StopSequence;
            }
            else if (Pipeline.Constraint?.IsComplete(History) == true)
            {
                finish = FinishReason.GrammarComplete;
            }
            else if (generated >= _budget)
            {
                finish = FinishReason.Length;
            }
        }

        if (finish is not null && !_matcher.Stopped)
        {
            text += _matcher.Push(_decoder.Flush());
            text += _matcher.Flush();
            if (_matcher.Stopped)
            {
                finish = FinishReason.StopSequence;
            }
        }

        IsFinished = finish is not null;
        return new GenerationChunk
        {
            Text = text,
            TokenIds = [tokenId],
            LogProbabilities = logProbability is { } lp ? [lp] : [],
            FinishReason = finish,
            PromptTokenCount = _promptIds.Length,
            CompletionTokenCount = generated,
        };
    }

    /// <summary>Marks the request failed; the consumer gets <paramref name="failure"/> after the chunks already delivered.</summary>
    internal void Fail(Exception failure)
    {
        _failure ??= failure;
        IsFinished = true;
    }

    /// <summary>Hands a step's chunk (if any) to the consumer, and closes the buffer when the request is finished.</summary>
    internal void Deliver(GenerationChunk? chunk)
    {
        if (chunk is not null && !_chunks.Writer.TryWrite(chunk))
        {
            // The scheduler only steps a request with room in its buffer; losing a chunk silently would corrupt the text.
            throw new InvalidOperationException("A generation chunk was produced for a request whose buffer was full.");
        }

        if (IsFinished)
        {
            _chunks.Writer.TryComplete();
        }
    }

    /// <summary>The next chunk, in order; throws the request's failure once the delivered chunks are read.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled while waiting.</exception>
    internal async ValueTask<GenerationChunk> ReadAsync(CancellationToken cancellationToken)
    {
        GenerationChunk? chunk;
        while (!_chunks.Reader.TryRead(out chunk))
        {
            if (!await _chunks.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                ExceptionDispatchInfo.Throw(_failure ?? new InvalidOperationException("The generation ended without a final chunk."));
            }
        }

        return chunk;
    }
}
