using System.Text.Json.Serialization;

namespace LmHead.Extensions.Decoding;

/// <summary>
/// The one description of how the head turns logits into the next token: temperature, top-k, top-p, min-p, the
/// repetition / frequency / presence penalties and their window, logit bias, seed and greedy decoding. Every layer
/// speaks it: <see cref="DecodingPipeline.Create(DecodingOptions, int)"/> builds the pipeline from it, the text
/// generator, the Semantic Kernel settings, the chat client and the ML.NET catalog all map to it.
/// </summary>
/// <remarks>
/// Immutable; every value is validated once, here, when it is set (<see cref="ArgumentOutOfRangeException"/> naming the
/// property, its JSON name, the allowed range and the value). The JSON names are snake_case, as in OpenAI-style
/// prompt settings: <c>temperature</c>, <c>top_k</c>, <c>top_p</c>, <c>min_p</c>, <c>repetition_penalty</c>,
/// <c>frequency_penalty</c>, <c>presence_penalty</c>, <c>penalty_window</c>, <c>logit_bias</c>, <c>seed</c>,
/// <c>greedy</c>. In JSON a <c>logit_bias</c> of -100 or less bans the token (OpenAI's convention); in C# use
/// <see cref="float.NegativeInfinity"/>. A value that turns a stage off (top-k 0 or null, top-p 1, min-p 0, penalty 1,
/// frequency and presence 0, an empty bias, temperature 1) adds no stage at all.
/// <para>
/// The stages run in Hugging Face's order: logit bias, repetition penalty, frequency/presence penalties, temperature,
/// top-k, top-p, min-p, then the draw. Compose another order by hand with <see cref="DecodingPipelineBuilder"/>.
/// </para>
/// </remarks>
[JsonNumberHandling(JsonNumberHandling.AllowReadingFromString)]
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record DecodingOptions
{
    // Declared before Default so that Default sees it initialised.
    private static readonly IReadOnlyDictionary<int, float> Empty = new Dictionary<int, float>().AsReadOnly();

    /// <summary>The library's defaults: temperature 0.7, top-k 50, nothing else.</summary>
    public static DecodingOptions Default { get; } = new();

    /// <summary>Greedy decoding: always the most likely token (the first one on ties).</summary>
    public static DecodingOptions GreedyDecoding { get; } = new() { Greedy = true };

    private readonly float _temperature = DecodingDefaults.Temperature;
    private readonly int? _topK = DecodingDefaults.TopK;
    private readonly float? _topP;
    private readonly float? _minP;
    private readonly float? _repetitionPenalty;
    private readonly float _frequencyPenalty;
    private readonly float _presencePenalty;
    private readonly int? _penaltyWindow;
    private readonly IReadOnlyDictionary<int, float> _logitBias = Empty;

    /// <summary>The sampling temperature (<c>temperature</c>), finite and ≥ 0; 0 is greedy (default 0.7).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative, NaN or infinite.</exception>
    [JsonPropertyName("temperature")]
    public float Temperature
    {
        get => _temperature;
        init => _temperature = float.IsFinite(value) && value >= 0f ? value
            : throw OutOfRange(nameof(Temperature), "temperature", value, "a finite number >= 0 (0 means greedy)");
    }

    /// <summary>Keep only the k most likely tokens (<c>top_k</c>); <see langword="null"/> or 0 keeps all (default 50).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    [JsonPropertyName("top_k")]
    [JsonConverter(typeof(TopKJsonConverter))]
    public int? TopK
    {
        get => _topK;
        init => _topK = value switch
        {
            null or 0 => null,
            > 0 => value,
            _ => throw OutOfRange(nameof(TopK), "top_k", value, "at least 1, or 0 or null to keep every token"),
        };
    }

    /// <summary>Nucleus sampling (<c>top_p</c>): keep the smallest set of tokens with mass ≥ p, in (0, 1]; <see langword="null"/> or 1 is off.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside (0, 1].</exception>
    [JsonPropertyName("top_p")]
    public float? TopP
    {
        get => _topP;
        init => _topP = value is null || (value > 0f && value <= 1f) ? value
            : throw OutOfRange(nameof(TopP), "top_p", value, "in (0, 1], or null for off");
    }

    /// <summary>Min-p (<c>min_p</c>): keep tokens with probability ≥ min_p × the top one, in [0, 1]; <see langword="null"/> or 0 is off.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside [0, 1].</exception>
    [JsonPropertyName("min_p")]
    public float? MinP
    {
        get => _minP;
        init => _minP = value is null || (value >= 0f && value <= 1f) ? value
            : throw OutOfRange(nameof(MinP), "min_p", value, "in [0, 1], or null for off");
    }

    /// <summary>Hugging Face's repetition penalty over prompt and output (<c>repetition_penalty</c>), finite and &gt; 0; <see langword="null"/> or 1 is off.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a finite number &gt; 0.</exception>
    [JsonPropertyName("repetition_penalty")]
    public float? RepetitionPenalty
    {
        get => _repetitionPenalty;
        init => _repetitionPenalty = value is null || (value > 0f && float.IsFinite(value.Value)) ? value
            : throw OutOfRange(nameof(RepetitionPenalty), "repetition_penalty", value, "a finite number > 0 (1 = off), or null");
    }

    /// <summary>OpenAI's frequency penalty over generated tokens (<c>frequency_penalty</c>), subtracted once per occurrence; finite, 0 is off.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is NaN or infinite.</exception>
    [JsonPropertyName("frequency_penalty")]
    public float FrequencyPenalty
    {
        get => _frequencyPenalty;
        init => _frequencyPenalty = float.IsFinite(value) ? value
            : throw OutOfRange(nameof(FrequencyPenalty), "frequency_penalty", value, "a finite number (0 = off)");
    }

    /// <summary>OpenAI's presence penalty over generated tokens (<c>presence_penalty</c>), subtracted once from any token already generated; finite, 0 is off.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is NaN or infinite.</exception>
    [JsonPropertyName("presence_penalty")]
    public float PresencePenalty
    {
        get => _presencePenalty;
        init => _presencePenalty = float.IsFinite(value) ? value
            : throw OutOfRange(nameof(PresencePenalty), "presence_penalty", value, "a finite number (0 = off)");
    }

    /// <summary>The penalties look only at the last this-many tokens (<c>penalty_window</c>), at least 1; <see langword="null"/> = all.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    [JsonPropertyName("penalty_window")]
    public int? PenaltyWindow
    {
        get => _penaltyWindow;
        init => _penaltyWindow = value is null or >= 1 ? value
            : throw OutOfRange(nameof(PenaltyWindow), "penalty_window", value, "at least 1, or null for every token");
    }

    /// <summary>
    /// Token id → additive logit bias (<c>logit_bias</c>); <see cref="float.NegativeInfinity"/> bans a token (in JSON, -100
    /// or less bans it, as in OpenAI's API). A copy is kept. A token id at or beyond the vocabulary is reported when the
    /// bias meets the logits.
    /// </summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is negative, or a bias is NaN or +infinity.</exception>
    [JsonPropertyName("logit_bias")]
    [JsonConverter(typeof(LogitBiasJsonConverter))]
    public IReadOnlyDictionary<int, float> LogitBias
    {
        get => _logitBias;
        init
        {
            ArgumentNullException.ThrowIfNull(value, nameof(LogitBias));
            foreach (var (token, bias) in value)
            {
                if (token < 0)
                {
                    throw new ArgumentOutOfRangeException(nameof(LogitBias), token,
                        $"LogitBias (logit_bias) names token id {token}; token ids must be 0 or more.");
                }

                if (float.IsNaN(bias) || float.IsPositiveInfinity(bias))
                {
                    throw new ArgumentOutOfRangeException(nameof(LogitBias), bias,
                        $"LogitBias (logit_bias) for token {token} is {bias}; use a finite value, or -infinity to ban the token.");
                }
            }

            _logitBias = value.Count == 0 ? Empty : new Dictionary<int, float>(value).AsReadOnly();
        }
    }

    /// <summary>The seed of the sampler (<c>seed</c>), for reproducible draws; <see langword="null"/> draws an unpredictable one.</summary>
    [JsonPropertyName("seed")]
    public ulong? Seed { get; init; }

    /// <summary>Greedy decoding (<c>greedy</c>): pick the most likely token after the penalties and bias, ignoring temperature and the filters' randomness.</summary>
    [JsonPropertyName("greedy")]
    public bool Greedy { get; init; }

    /// <summary>Whether decoding picks the argmax instead of sampling: <see cref="Greedy"/>, or a temperature of 0.</summary>
    [JsonIgnore]
    public bool IsGreedy => Greedy || Temperature == 0f;

    /// <summary>Whether a stage reads the tokens seen so far (a repetition, frequency or presence penalty is on).</summary>
    [JsonIgnore]
    public bool UsesHistory => HasRepetitionPenalty || FrequencyPenalty != 0f || PresencePenalty != 0f;

    /// <summary>Whether top-p is on (set and below 1).</summary>
    internal bool HasTopP => TopP is < 1f;

    /// <summary>Whether min-p is on (set and above 0).</summary>
    internal bool HasMinP => MinP is > 0f;

    /// <summary>Whether the repetition penalty is on (set and not 1).</summary>
    internal bool HasRepetitionPenalty => RepetitionPenalty is { } r && r != 1f;

    /// <summary>The stages these options describe, in the library's order; off values add nothing.</summary>
    /// <returns>A new array of stages.</returns>
    public ILogitsStage[] CreateStages()
    {
        var stages = new List<ILogitsStage>();
        if (LogitBias.Count > 0)
        {
            stages.Add(new LogitBias(LogitBias));
        }

        if (HasRepetitionPenalty)
        {
            stages.Add(new RepetitionPenalty(RepetitionPenalty!.Value, PenaltyWindow));
        }

        if (FrequencyPenalty != 0f || PresencePenalty != 0f)
        {
            stages.Add(new FrequencyPresencePenalty(FrequencyPenalty, PresencePenalty, PenaltyWindow));
        }

        if (IsGreedy)
        {
            // The argmax ignores temperature and filters that keep the maximum; T = 0 keeps only the first maximum.
            stages.Add(new TemperatureScaler(0f));
            return [.. stages];
        }

        if (Temperature != 1f)
        {
            stages.Add(new TemperatureScaler(Temperature, validated: true));
        }

        if (TopK is { } k)
        {
            stages.Add(new TopKFilter(k));
        }

        if (HasTopP)
        {
            stages.Add(new TopPFilter(TopP!.Value));
        }

        if (HasMinP)
        {
            stages.Add(new MinPFilter(MinP!.Value));
        }

        return [.. stages];
    }

    /// <summary>Value equality, with the logit bias compared entry by entry.</summary>
    /// <param name="other">The options to compare with.</param>
    /// <returns>Whether every option is equal.</returns>
    public bool Equals(DecodingOptions? other) =>
        other is not null
        && _temperature.Equals(other._temperature) && _topK == other._topK && Nullable.Equals(_topP, other._topP)
        && Nullable.Equals(_minP, other._minP) && Nullable.Equals(_repetitionPenalty, other._repetitionPenalty)
        && _frequencyPenalty.Equals(other._frequencyPenalty) && _presencePenalty.Equals(other._presencePenalty)
        && _penaltyWindow == other._penaltyWindow && Seed == other.Seed && Greedy == other.Greedy
        && _logitBias.Count == other._logitBias.Count
        && _logitBias.All(p => other._logitBias.TryGetValue(p.Key, out float v) && v.Equals(p.Value));

    /// <summary>A hash consistent with <see cref="Equals(DecodingOptions?)"/>.</summary>
    /// <returns>The hash.</returns>
    public override int GetHashCode() =>
        HashCode.Combine(HashCode.Combine(_temperature, _topK, _topP, _minP, _repetitionPenalty), _frequencyPenalty, _presencePenalty, _penaltyWindow, Seed, Greedy, _logitBias.Count);

    private static ArgumentOutOfRangeException OutOfRange(string property, string jsonName, object? value, string allowed) =>
        new(property, value, $"{property} ({jsonName}) must be {allowed}, but was {value}.");
}
