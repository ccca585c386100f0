using static TorchSharp.torch;

namespace LmHead.Extensions.Decoding;

/// <summary>
/// Keeps exactly the k highest logits of each row and sets the others to -infinity. When several logits tie at
/// the k-th value, the ones with the lower token ids are kept (so exactly k survive, as in llama.cpp; Hugging Face
/// keeps all ties). When k ≥ V every logit is kept and the stage returns an alias, no copy.
/// </summary>
public sealed class TopKFilter : ILogitsStage
{
    /// <summary>Creates a top-k stage.</summary>
    /// <param name="k">How many logits to keep per row; at least 1.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="k"/> is not positive.</exception>
    public TopKFilter(int k)
    {
        Validate(k);
        K = k;
    }

    /// <summary>How many logits each row keeps.</summary>
    public int K { get; }

    /// <summary>Checks a k value.</summary>
    /// <param name="k">The value to check.</param>
    /// <param name="paramName">The parameter name to report.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="k"/> is not positive.</exception>
    public static void Validate(int k, string paramName = "k")
    {
        if (k <= 0)
        {
            throw new ArgumentOutOfRangeException(paramName, k, $"{paramName} must be at least 1 (use k >= V to keep every token), but was {k}.");
        }
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException"><paramref name="logits"/> is not a floating-point <c>[V]</c> or <c>[B, V]</c> tensor, or holds NaN.</exception>
    public Tensor Apply(Tensor logits)
    {
        LogitsGuard.RequireRows(logits, nameof(logits));
        LogitsGuard.RequireNoNaNOrPositiveInfinity(logits, nameof(logits));
        return K >= logits.shape[^1] ? logits.alias() : KeepTop(logits, K);
    }

    /// <summary>Keeps the k highest entries per row (ties toward lower ids); assumes validated input with k &lt; V.</summary>
    internal static Tensor KeepTop(Tensor logits, int k)
    {
        using var scope = NewDisposeScope();
        var rows = logits.dim() == 1 ? logits.unsqueeze(0) : logits;
        var kth = rows.topk(k, dim: -1).values.narrow(-1, k - 1, 1);
        var greater = rows.gt(kth);
        var equal = rows.eq(kth);
        var needed = greater.sum(-1, keepdim: true, type: ScalarType.Int64).neg().add(k);
        var equalRank = equal.to_type(ScalarType.Int64).cumsum(-1);
        var keep = greater.logical_or(equal.logical_and(equalRank.le(needed)));
        var result = rows.masked_fill(keep.logical_not(), float.NegativeInfinity);
        if (logits.dim() == 1)
        {
            result = result.squeeze(0);
        }

        return result.MoveToOuterDisposeScope();
    }
}
