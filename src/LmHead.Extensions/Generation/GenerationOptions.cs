using LmHead.Extensions.Decoding;

namespace LmHead.Extensions.Generation;

/// <summary>
/// How a <see cref="TextGenerator"/> generates: length, sampling, seed, stop sequences, log-probabilities. Every value is
/// validated when it is set (<see cref="ArgumentOutOfRangeException"/> naming the allowed range); the generator never
/// changes the instance it is given.
/// </summary>
public sealed record GenerationOptions
{
    /// <summary>The largest number of <see cref="TopLogProbabilities"/>: 20.</summary>
    public const int MaxTopLogProbabilities = 20;

    private readonly int _maxNewTokens = 64;
    private readonly float _temperature = DecodingDefaults.Temperature;
    private readonly int? _topK = DecodingDefaults.TopK;
    private readonly IReadOnlyList<string> _stopSequences = [];
    private readonly int _topLogProbabilities;
    private readonly float? _topP;
    private readonly float? _minP;
    private readonly float? _repetitionPenalty;
    private readonly float _frequencyPenalty;
    private readonly float _presencePenalty;
    private readonly int? _penaltyWindow;
    private readonly IReadOnlyDictionary<int, float> _logitBias = new Dictionary<int, float>().AsReadOnly();

    /// <summary>The most tokens to generate, at least 1 (default 64).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public int MaxNewTokens
    {
        get => _maxNewTokens;
        init => _maxNewTokens = value >= 1 ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), value, $"{nameof(MaxNewTokens)} must be at least 1, but was {value}.");
    }

    /// <summary>The sampling temperature, finite and ≥ 0; 0 is greedy (default 0.7).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative, NaN or infinite.</exception>
    public float Temperature
    {
        get => _temperature;
        init => _temperature = float.IsFinite(value) && value >= 0 ? value
            : throw new ArgumentOutOfRangeException(nameof(Temperature), value, $"{nameof(Temperature)} must be finite and ≥ 0, but was {value}.");
    }

    /// <summary>Keep only the k most likely tokens before sampling, k ≥ 1; <see langword="null"/> keeps all (default 50).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public int? TopK
    {
        get => _topK;
        init => _topK = value is null or >= 1 ? value
            : throw new ArgumentOutOfRangeException(nameof(TopK), value, $"{nameof(TopK)} must be at least 1 or null, but was {value}.");
    }

    /// <summary>The seed of this request's sampler, for reproducible output; <see langword="null"/> draws an unpredictable one.</summary>
    public ulong? Seed { get; init; }

    /// <summary>
    /// Texts that end generation when they appear in the output; the output stops just before the first one. A copy of
    /// the list is kept.
    /// </summary>
    /// <exception cref="ArgumentNullException">The list is null.</exception>
    /// <exception cref="ArgumentException">An entry is null or empty.</exception>
    public IReadOnlyList<string> StopSequences
    {
        get => _stopSequences;
        init
        {
            ArgumentNullException.ThrowIfNull(value, nameof(StopSequences));
            string[] copy = [.. value];
            if (copy.Any(string.IsNullOrEmpty))
            {
                throw new ArgumentException("Stop sequences must be non-empty strings.", nameof(StopSequences));
            }

            _stopSequences = copy.AsReadOnly();
        }
    }

    /// <summary>Whether to report each generated token's log-probability.</summary>
    public bool IncludeLogProbabilities { get; init; }

    /// <summary>How many most likely alternatives to report per token, 0 to 20 (needs <see cref="IncludeLogProbabilities"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside 0 to 20.</exception>
    public int TopLogProbabilities
    {
        get => _topLogProbabilities;
        init => _topLogProbabilities = value is >= 0 and <= MaxTopLogProbabilities ? value
            : throw new ArgumentOutOfRangeException(nameof(TopLogProbabilities), value, $"{nameof(TopLogProbabilities)} must be in [0, {MaxTopLogProbabilities}], but was {value}.");
    }
    /// <summary>Nucleus sampling: keep the smallest set of tokens with probability mass ≥ p (the crossing token kept); <see langword="null"/> or 1 = off. In (0, 1].</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside (0, 1].</exception>
    public float? TopP
    {
        get => _topP;
        init => _topP = value is null || (value > 0f && value <= 1f) ? value
            : throw new ArgumentOutOfRangeException(nameof(TopP), value, $"{nameof(TopP)} must be in (0, 1] or null, but was {value}.");
    }

    /// <summary>Min-p: keep tokens with probability ≥ min_p × the top probability; <see langword="null"/> or 0 = off. In [0, 1].</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside [0, 1].</exception>
    public float? MinP
    {
        get => _minP;
        init => _minP = value is null || (value >= 0f && value <= 1f) ? value
            : throw new ArgumentOutOfRangeException(nameof(MinP), value, $"{nameof(MinP)} must be in [0, 1] or null, but was {value}.");
    }

    /// <summary>Hugging Face repetition penalty over prompt and generated tokens (&gt; 1 discourages repeats); <see langword="null"/> or 1 = off.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a finite number &gt; 0.</exception>
    public float? RepetitionPenalty
    {
        get => _repetitionPenalty;
        init => _repetitionPenalty = value is null || (value > 0f && float.IsFinite(value.Value)) ? value
            : throw new ArgumentOutOfRangeException(nameof(RepetitionPenalty), value, $"{nameof(RepetitionPenalty)} must be a finite number > 0 or null, but was {value}.");
    }

    /// <summary>OpenAI frequency penalty over generated tokens: subtracted from a logit once per occurrence. Finite; 0 = off.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is NaN or infinite.</exception>
    public float FrequencyPenalty
    {
        get => _frequencyPenalty;
        init => _frequencyPenalty = float.IsFinite(value) ? value
            : throw new ArgumentOutOfRangeException(nameof(FrequencyPenalty), value, $"{nameof(FrequencyPenalty)} must be finite, but was {value}.");
    }

    /// <summary>OpenAI presence penalty over generated tokens: subtracted once from the logit of any token already generated. Finite; 0 = off.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is NaN or infinite.</exception>
    public float PresencePenalty
    {
        get => _presencePenalty;
        init => _presencePenalty = float.IsFinite(value) ? value
            : throw new ArgumentOutOfRangeException(nameof(PresencePenalty), value, $"{nameof(PresencePenalty)} must be finite, but was {value}.");
    }

    /// <summary>Penalties look only at the last this-many tokens; <see langword="null"/> = all.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public int? PenaltyWindow
    {
        get => _penaltyWindow;
        init => _penaltyWindow = value is null or >= 1 ? value
            : throw new ArgumentOutOfRangeException(nameof(PenaltyWindow), value, $"{nameof(PenaltyWindow)} must be at least 1 or null, but was {value}.");
    }

    /// <summary>Token id → additive logit bias; -infinity bans a token. Copied when set.</summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is negative, or a bias is NaN or +infinity.</exception>
    public IReadOnlyDictionary<int, float> LogitBias
    {
        get => _logitBias;
        init
        {
            ArgumentNullException.ThrowIfNull(value, nameof(LogitBias));
            _ = new Decoding.LogitBias(value); // validates
            _logitBias = new Dictionary<int, float>(value).AsReadOnly();
        }
    }

    /// <summary>With <see cref="IncludeLogProbabilities"/>, also report each token's log-probability under the raw logits.</summary>
    public bool IncludeRawLogProbabilities { get; init; }

    /// <summary>
    /// Whether the literal text of a special token in the prompt (GPT-2's <c>&lt;|endoftext|&gt;</c>) encodes as that
    /// special token. Default <see langword="false"/>: prompts are user text, so such text encodes as the plain
    /// characters it is made of and cannot inject a control token. Set it only for prompts you write yourself.
    /// </summary>
    public bool AllowSpecialTokensInPrompt { get; init; }

    /// <summary>
    /// Builds the decoding pipeline in the library's default order (Hugging Face's): logit bias, repetition penalty,
    /// frequency/presence penalties, temperature, top-k, top-p, min-p, then the draw.
    /// </summary>
    /// <param name="candidateCount">How many candidates each decision reports.</param>
    /// <returns>A new pipeline.</returns>
    public DecodingPipeline BuildPipeline(int candidateCount = 0)
    {
        var builder = new DecodingPipelineBuilder().UseCandidateCount(candidateCount);
        builder.UseLogitBias(LogitBias);
        if (RepetitionPenalty is { } repetition)
        {
            builder.UseRepetitionPenalty(repetition, PenaltyWindow);
        }

        builder.UseFrequencyPresencePenalty(FrequencyPenalty, PresencePenalty, PenaltyWindow);
        builder.UseTemperature(Temperature);
        if (TopK is { } k)
        {
            builder.UseTopK(k);
        }

        if (TopP is { } p)
        {
            builder.UseTopP(p);
        }

        if (MinP is { } minP)
        {
            builder.UseMinP(minP);
        }

        return builder.Build();
    }
}
