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
}
