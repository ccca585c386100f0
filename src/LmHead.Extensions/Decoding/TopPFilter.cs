using static TorchSharp.torch;

namespace LmHead.Extensions.Decoding;

/// <summary>
/// Nucleus (top-p) filtering: keeps the smallest set of most likely tokens whose probability mass is at least p — the
/// token whose probability crosses p is kept — and at least <see cref="MinTokensToKeep"/> tokens; the others become
/// -infinity. Equal logits are ranked by lower token id first. p = 1 keeps every token (the stage returns an alias).
/// Probabilities are those of the logits this stage receives (after temperature when it comes after one).
/// </summary>
public sealed class TopPFilter : ILogitsStage
{
    /// <summary>Creates a top-p stage.</summary>
    /// <param name="p">The probability mass to keep, in (0, 1].</param>
    /// <param name="minTokensToKeep">At least this many tokens survive; 1 or more.</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    public TopPFilter(float p, int minTokensToKeep = 1)
    {
        if (!(p > 0f && p <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(p), p, $"p must be in (0, 1], but was {p}.");
        }

        if (minTokensToKeep < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(minTokensToKeep), minTokensToKeep, $"minTokensToKeep must be at least 1, but was {minTokensToKeep}.");
        }

        P = p;
        MinTokensToKeep = minTokensToKeep;
    }

    /// <summary>The probability mass kept.</summary>
    public float P { get; }

    /// <summary>The least number of tokens kept per row.</summary>
    public int MinTokensToKeep { get; }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The logits are not a floating-point <c>[V]</c> or <c>[B, V]</c> tensor, or hold NaN or +infinity, or a row is all -infinity.</exception>
    public Tensor Apply(Tensor logits)
    {
        LogitsGuard.RequireRows(logits, nameof(logits));
        LogitsGuard.RequireNoNaNOrPositiveInfinity(logits, nameof(logits));
        if (P >= 1f)
        {
            return logits.alias();
        }

        LogitsGuard.RequireSomeFiniteEntryPerRow(logits, nameof(logits));
        using var scope = NewDisposeScope();
        var rows = logits.dim() == 1 ? logits.unsqueeze(0) : logits;
        var (values, order) = rows.to_type(ScalarType.Float64).sort(dim: -1, descending: true, stable: true);
        var probabilities = values.softmax(-1);
        var before = probabilities.cumsum(-1).sub(probabilities);
        var keepSorted = before.lt(P);
        long keepAtLeast = Math.Min(MinTokensToKeep, rows.shape[1]);
        keepSorted.narrow(-1, 0, keepAtLeast).fill_(true);
        var keep = zeros_like(keepSorted).scatter(-1, order, keepSorted);
        var result = rows.masked_fill(keep.logical_not(), float.NegativeInfinity);
        return (logits.dim() == 1 ? result.squeeze(0) : result).MoveToOuterDisposeScope();
    }
}
