using LmHead.Extensions.Decoding;
using static TorchSharp.torch;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// <see cref="SoftmaxNormalizer"/> seen as a logits stage, so <c>NormalizeToProbabilities</c> uses the same
/// estimator and transformer as the other vector-to-vector stages (its output is probabilities, not logits).
/// </summary>
internal sealed class SoftmaxStage : ILogitsStage
{
    /// <summary>The normaliser this stage applies.</summary>
    public SoftmaxNormalizer Normalizer { get; } = new();

    /// <inheritdoc />
    public Tensor Apply(Tensor logits) => Normalizer.Normalize(logits);
}
