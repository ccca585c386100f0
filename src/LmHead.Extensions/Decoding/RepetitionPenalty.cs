using static TorchSharp.torch;

namespace LmHead.Extensions.Decoding;

/// <summary>
/// Hugging Face's repetition penalty: for every distinct token in the prompt and the generated text (optionally only the
/// last <see cref="Window"/> tokens), a negative logit is multiplied by the penalty and a positive one divided by it,
/// once per distinct token however often it occurred. A penalty of 1 changes nothing; above 1 discourages repetition.
/// </summary>
public sealed class RepetitionPenalty : ITokenHistoryStage
{
    /// <summary>Creates a repetition penalty.</summary>
    /// <param name="penalty">A finite factor &gt; 0 (1 = off).</param>
    /// <param name="window">Only the last this-many tokens count; <see langword="null"/> for all.</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    public RepetitionPenalty(float penalty, int? window = null)
    {
        if (!(penalty > 0f) || float.IsInfinity(penalty))
        {
            throw new ArgumentOutOfRangeException(nameof(penalty), penalty, $"penalty must be a finite number > 0 (1 = off), but was {penalty}.");
        }

        if (window is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(window), window, $"window must be at least 1 or null, but was {window}.");
        }

        Penalty = penalty;
        Window = window;
    }

    /// <summary>The penalty factor.</summary>
    public float Penalty { get; }

    /// <summary>How many recent tokens count, or <see langword="null"/> for all.</summary>
    public int? Window { get; }

    /// <inheritdoc />
    public Tensor Apply(Tensor logits) => Apply(logits, TokenHistory.Empty);

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The logits are invalid, or a history token (prompt or generated, inside the window or not) is outside <c>[0, V)</c>.</exception>
    public Tensor Apply(Tensor logits, TokenHistory history)
    {
        LogitsGuard.RequireRows(logits, nameof(logits));
        ArgumentNullException.ThrowIfNull(history);
        HistoryGuard.RequireInVocabulary(history, logits.shape[^1], nameof(history));
        long[] seen = [.. history.AllTokens(Window).Distinct().Select(t => (long)t)];
        if (Penalty == 1f || seen.Length == 0)
        {
            return logits.alias();
        }

        using var scope = NewDisposeScope();
        var index = tensor(seen, device: logits.device);
        var rows = logits.dim() == 1 ? logits.unsqueeze(0) : logits;
        index = index.unsqueeze(0).expand(rows.shape[0], -1);
        var picked = rows.gather(-1, index);
        var penalised = where(picked.lt(0), picked.mul(Penalty), picked.div(Penalty));
        var result = rows.scatter(-1, index, penalised);
        return (logits.dim() == 1 ? result.squeeze(0) : result).MoveToOuterDisposeScope();
    }
}
