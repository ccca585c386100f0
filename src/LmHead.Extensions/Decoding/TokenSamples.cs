using static TorchSharp.torch;

namespace LmHead.Extensions.Decoding;

/// <summary>Token ids drawn by a <see cref="MultinomialSampler"/> and their probabilities; owns both tensors.</summary>
public sealed class TokenSamples : IDisposable
{
    internal TokenSamples(Tensor ids, Tensor probabilities)
    {
        Ids = ids;
        Probabilities = probabilities;
    }

    /// <summary>The drawn token ids, int64, <c>[n]</c> for a single row or <c>[B, n]</c> for a batch, in draw order.</summary>
    public Tensor Ids { get; }

    /// <summary>The probability of each drawn id under the sampled distribution (normalised), same shape as <see cref="Ids"/>.</summary>
    public Tensor Probabilities { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        Ids.Dispose();
        Probabilities.Dispose();
    }
}
