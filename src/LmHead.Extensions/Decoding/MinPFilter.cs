using static TorchSharp.torch;

namespace LmHead.Extensions.Decoding;

/// <summary>
/// Min-p filtering: keeps the tokens whose probability is at least <c>min_p × (the top probability)</c>, the others
/// become -infinity. min_p = 0 keeps every token (the stage returns an alias); min_p = 1 keeps only the most likely
/// token(s). Probabilities are those of the logits this stage receives.
/// </summary>
public sealed class MinPFilter : ILogitsStage
{
    /// <summary>Creates a min-p stage.</summary>
    /// <param name="minP">The relative threshold, in [0, 1].</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="minP"/> is outside [0, 1] or NaN.</exception>
    public MinPFilter(float minP)
    {
        if (!(minP >= 0f && minP <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(minP), minP, $"minP must be in [0, 1], but was {minP}.");
        }

        MinP = minP;
    }

    /// <summary>The relative threshold.</summary>
    public float MinP { get; }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The logits are not a floating-point <c>[V]</c> or <c>[B, V]</c> tensor, or hold NaN or +infinity.</exception>
    public Tensor Apply(Tensor logits)
    {
        LogitsGuard.RequireRows(logits, nameof(logits));
        LogitsGuard.RequireNoNaNOrPositiveInfinity(logits, nameof(logits));
        if (MinP == 0f)
        {
            return logits.alias();
        }

        LogitsGuard.RequireSomeFiniteEntryPerRow(logits, nameof(logits));
        using var scope = NewDisposeScope();
        var probabilities = logits.to_type(ScalarType.Float64).softmax(-1);
        var threshold = probabilities.amax([-1], keepdim: true).mul(MinP);
        return logits.masked_fill(probabilities.lt(threshold), float.NegativeInfinity).MoveToOuterDisposeScope();
    }
}
