using static TorchSharp.torch;

namespace LmHead.Extensions.Decoding;

/// <summary>
/// Turns logits into probabilities with a numerically stable softmax over the last dimension
/// (the row maximum is subtracted first, so large logits do not overflow). Entries at -infinity get probability 0.
/// </summary>
public sealed class SoftmaxNormalizer
{
    /// <summary>Computes probabilities.</summary>
    /// <param name="logits">Logits <c>[V]</c> or <c>[B, V]</c>; -infinity marks a removed token.</param>
    /// <returns>Probabilities with the input's shape, dtype and device, each row summing to 1; the caller owns the tensor.</returns>
    /// <exception cref="ArgumentException">The tensor has the wrong rank or dtype, holds NaN or +infinity, or a row is entirely -infinity.</exception>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "A stage instance, composed like the other stages.")]
    public Tensor Normalize(Tensor logits)
    {
        LogitsGuard.RequireRows(logits, nameof(logits));
        LogitsGuard.RequireNoNaNOrPositiveInfinity(logits, nameof(logits));
        LogitsGuard.RequireSomeFiniteEntryPerRow(logits, nameof(logits));
        return logits.softmax(-1);
    }
}
