using static TorchSharp.torch;

namespace LmHead.Extensions.Decoding;

/// <summary>
/// OpenAI's frequency and presence penalties over the generated tokens (optionally only the last <see cref="Window"/>):
/// <c>logit[t] -= count(t) × frequency + (count(t) &gt; 0 ? presence : 0)</c>. Positive values discourage repetition,
/// negative values encourage it; 0 and 0 change nothing.
/// </summary>
public sealed class FrequencyPresencePenalty : ITokenHistoryStage
{
    /// <summary>Creates the penalties.</summary>
    /// <param name="frequency">Subtracted once per occurrence; finite (OpenAI allows [-2, 2]).</param>
    /// <param name="presence">Subtracted once for any occurrence; finite.</param>
    /// <param name="window">Only the last this-many generated tokens count; <see langword="null"/> for all.</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is NaN, infinite or out of range.</exception>
    public FrequencyPresencePenalty(float frequency, float presence, int? window = null)
    {
        if (!float.IsFinite(frequency))
        {
            throw new ArgumentOutOfRangeException(nameof(frequency), frequency, $"frequency must be finite, but was {frequency}.");
        }

        if (!float.IsFinite(presence))
        {
            throw new ArgumentOutOfRangeException(nameof(presence), presence, $"presence must be finite, but was {presence}.");
        }

        if (window is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(window), window, $"window must be at least 1 or null, but was {window}.");
        }

        Frequency = frequency;
        Presence = presence;
        Window = window;
    }

    /// <summary>The per-occurrence penalty.</summary>
    public float Frequency { get; }

    /// <summary>The any-occurrence penalty.</summary>
    public float Presence { get; }

    /// <summary>How many recent generated tokens count, or <see langword="null"/> for all.</summary>
    public int? Window { get; }

    /// <inheritdoc />
    public Tensor Apply(Tensor logits) => Apply(logits, TokenHistory.Empty);

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The logits are invalid, or a history token (prompt or generated, inside the window or not) is outside <c>[0, V)</c>.</exception>
    public Tensor Apply(Tensor logits, TokenHistory history)
    {
        LogitsGuard.RequireRows(logits, nameof(logits));
        ArgumentNullException.ThrowIfNull(history);
        long vocabulary = logits.shape[^1];
        HistoryGuard.RequireInVocabulary(history, vocabulary, nameof(history));
        var counts = history.Generated(Window).GroupBy(t => t).ToDictionary(g => g.Key, g => g.Count());
        if (counts.Count == 0 || (Frequency == 0f && Presence == 0f))
        {
            return logits.alias();
        }

        using var scope = NewDisposeScope();
        var dense = new float[vocabulary];
        foreach (var (token, count) in counts)
        {
            dense[token] = count * Frequency + Presence;
        }

        return logits.sub(tensor(dense, device: logits.device).to_type(logits.dtype)).MoveToOuterDisposeScope();
    }
}
