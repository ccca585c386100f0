namespace LmHead.Extensions.Decoding;

/// <summary>
/// Composes the stages of the LM head in order, in the style of Microsoft.Extensions.AI's <c>ChatClientBuilder</c>:
/// <c>new DecodingPipelineBuilder().UseTemperature(0.7f).UseTopK(50).UseSeed(42).Build()</c>.
/// Stages run in the order they are added; softmax and sampling always come last.
/// </summary>
/// <remarks>
/// The library's default order, used by the text generator, Semantic Kernel and the chat client, is Hugging Face's:
/// logit bias, repetition penalty, frequency/presence penalties, then temperature, top-k, top-p, min-p, then the draw.
/// Temperature commutes with top-k but not with top-p or min-p, so where it sits changes the result; compose another
/// order by calling the <c>Use…</c> methods in that order.
/// </remarks>
public sealed class DecodingPipelineBuilder
{
    private readonly List<ILogitsStage> _stages = [];
    private ulong? _seed;
    private int _candidateCount = DecodingDefaults.CandidateCount;

    // What the stages added so far amount to, while they are built-in stages in the library's order (a temperature
    // right after top-k is allowed: the pipeline runs top-k first either way); null otherwise.
    private DecodingOptions? _options = new() { Temperature = 1f, TopK = null };
    private int _lastOrder = -1;
    private bool _drawsKeyedByStep;

    /// <summary>Starts a builder with no stages.</summary>
    public DecodingPipelineBuilder()
    {
    }

    /// <summary>Starts a builder with the stages <paramref name="options"/> describe, in the library's order, and their seed.</summary>
    /// <param name="options">The options.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    public DecodingPipelineBuilder(DecodingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _stages.AddRange(options.CreateStages());
        _options = options;
        _seed = options.Seed;
        _lastOrder = int.MaxValue;
    }

    /// <summary>Adds any stage.</summary>
    /// <param name="stage">The stage to run after the ones already added.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="stage"/> is null.</exception>
    public DecodingPipelineBuilder Use(ILogitsStage stage)
    {
        ArgumentNullException.ThrowIfNull(stage);
        _stages.Add(stage);
        _options = null;
        return this;
    }

    /// <summary>Adds a built-in stage and records it in the options while the stages stay in the library's order.</summary>
    private DecodingPipelineBuilder Add(ILogitsStage stage, int order, Func<DecodingOptions, DecodingOptions> record)
    {
        _stages.Add(stage);
        if (_options is null)
        {
            return this;
        }

        const int TemperatureOrder = 3, TopKOrder = 4;
        // A temperature right after top-k describes the same decoding (top-k ranks the raw logits either way).
        bool temperatureAfterTopK = order == TemperatureOrder && _lastOrder == TopKOrder && _options.Temperature == 1f;
        if (!temperatureAfterTopK && order <= _lastOrder)
        {
            _options = null;
            return this;
        }

        _options = record(_options);
        _lastOrder = Math.Max(_lastOrder, order);
        return this;
    }

    /// <summary>Adds a <see cref="TemperatureScaler"/>; T = 1 adds nothing, T = 0 makes the pipeline greedy.</summary>
    /// <param name="temperature">T ≥ 0 and finite.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="temperature"/> is negative, NaN or infinite.</exception>
    public DecodingPipelineBuilder UseTemperature(float temperature)
    {
        var stage = new TemperatureScaler(temperature);
        return stage.IsIdentity ? this : Add(stage, 3, o => o with { Temperature = temperature });
    }

    /// <summary>Adds a <see cref="TopKFilter"/>.</summary>
    /// <param name="k">How many logits to keep per row; at least 1.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="k"/> is not positive.</exception>
    public DecodingPipelineBuilder UseTopK(int k) => Add(new TopKFilter(k), 4, o => o with { TopK = k });

    /// <summary>Makes the pipeline greedy: it picks the argmax (the first maximum on ties). Same as <c>UseTemperature(0)</c>.</summary>
    /// <returns>This builder.</returns>
    public DecodingPipelineBuilder UseGreedy() => UseTemperature(0f);

    /// <summary>Adds a <see cref="TopPFilter"/>; p = 1 adds nothing.</summary>
    /// <param name="p">The probability mass to keep, in (0, 1].</param>
    /// <param name="minTokensToKeep">At least this many tokens survive.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    public DecodingPipelineBuilder UseTopP(float p, int minTokensToKeep = 1)
    {
        var stage = new TopPFilter(p, minTokensToKeep);
        return p >= 1f ? this : minTokensToKeep == 1 ? Add(stage, 5, o => o with { TopP = p }) : Use(stage);
    }

    /// <summary>Adds a <see cref="MinPFilter"/>; 0 adds nothing.</summary>
    /// <param name="minP">The relative threshold, in [0, 1].</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="minP"/> is out of range.</exception>
    public DecodingPipelineBuilder UseMinP(float minP)
    {
        var stage = new MinPFilter(minP);
        return minP == 0f ? this : Add(stage, 6, o => o with { MinP = minP });
    }

    /// <summary>Adds a <see cref="RepetitionPenalty"/> (Hugging Face semantics); 1 adds nothing.</summary>
    /// <param name="penalty">A finite factor &gt; 0.</param>
    /// <param name="window">Only the last this-many tokens count; <see langword="null"/> for all.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    public DecodingPipelineBuilder UseRepetitionPenalty(float penalty, int? window = null)
    {
        var stage = new RepetitionPenalty(penalty, window);
        return penalty == 1f ? this
            : _options?.PenaltyWindow is { } w && w != window ? Use(stage)
            : Add(stage, 1, o => o with { RepetitionPenalty = penalty, PenaltyWindow = window });
    }

    /// <summary>Adds <see cref="FrequencyPresencePenalty"/> (OpenAI semantics, over generated tokens); 0 and 0 add nothing.</summary>
    /// <param name="frequency">Subtracted per occurrence.</param>
    /// <param name="presence">Subtracted once for any occurrence.</param>
    /// <param name="window">Only the last this-many generated tokens count; <see langword="null"/> for all.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    public DecodingPipelineBuilder UseFrequencyPresencePenalty(float frequency, float presence, int? window = null)
    {
        var stage = new FrequencyPresencePenalty(frequency, presence, window);
        return frequency == 0f && presence == 0f ? this
            : _options is { HasRepetitionPenalty: true } o1 && o1.PenaltyWindow != window ? Use(stage)
            : Add(stage, 2, o => o with { FrequencyPenalty = frequency, PresencePenalty = presence, PenaltyWindow = window });
    }

    /// <summary>Adds a <see cref="LogitBias"/>; an empty map adds nothing.</summary>
    /// <param name="bias">Token id → additive bias (-infinity bans the token).</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="bias"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is negative or a bias is NaN or +infinity.</exception>
    public DecodingPipelineBuilder UseLogitBias(IReadOnlyDictionary<int, float> bias)
    {
        var stage = new LogitBias(bias);
        return bias.Count == 0 ? this : Add(stage, 0, o => o with { LogitBias = bias });
    }

    /// <summary>Seeds the pipeline's sampler, for reproducible draws.</summary>
    /// <param name="seed">The seed.</param>
    /// <returns>This builder.</returns>
    public DecodingPipelineBuilder UseSeed(ulong seed)
    {
        _seed = seed;
        _options = _options is null ? null : _options with { Seed = seed };
        return this;
    }

    /// <summary>
    /// Seeds the pipeline so that a generation draws step t from <c>SamplingRandom.ForStream(seed, t)</c>, as ML.NET's
    /// <c>SampleNextToken</c> draws a row whose stream key is t (see <see cref="DecodingPipeline.DrawsKeyedByStep"/>).
    /// </summary>
    /// <param name="seed">The seed.</param>
    /// <returns>This builder.</returns>
    public DecodingPipelineBuilder UseStepKeyedSeed(ulong seed)
    {
        UseSeed(seed);
        _drawsKeyedByStep = true;
        return this;
    }

    /// <summary>Sets how many top candidates each <see cref="NextTokenResult"/> reports.</summary>
    /// <param name="count">A number from 0 upward.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative.</exception>
    public DecodingPipelineBuilder UseCandidateCount(int count)
    {
        if (count < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"count must be 0 or more, but was {count}.");
        }

        _candidateCount = count;
        return this;
    }

    /// <summary>Builds the pipeline.</summary>
    /// <returns>A pipeline running the stages added so far.</returns>
    public DecodingPipeline Build()
    {
        var pipeline = new DecodingPipeline([.. _stages], _options, _seed, _candidateCount, _drawsKeyedByStep);
        return _constraint is null ? pipeline : pipeline.WithConstraint(_constraint);
    }

    private Grammar.GrammarConstraint? _constraint;

    /// <summary>
    /// Constrains the output to a grammar: the constraint's mask runs before every other stage, and the pipeline keeps
    /// the CPU fast path. The constraint follows one request's tokens: build a pipeline per request.
    /// </summary>
    /// <param name="constraint">The constraint.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="constraint"/> is null.</exception>
    public DecodingPipelineBuilder UseGrammarConstraint(Grammar.GrammarConstraint constraint)
    {
        ArgumentNullException.ThrowIfNull(constraint);
        _constraint = constraint;
        return this;
    }
}
