using static TorchSharp.torch;

namespace LmHead.Extensions.Decoding;

/// <summary>
/// One step of the LM head that maps logits to logits of the same shape (<c>[V]</c> or <c>[B, V]</c>),
/// for example temperature scaling or top-k filtering.
/// </summary>
public interface ILogitsStage
{
    /// <summary>Applies the stage; the returned tensor is a new handle that the caller owns and disposes.</summary>
    /// <param name="logits">Logits <c>[V]</c> or <c>[B, V]</c> of a floating-point dtype, on any device. Not modified.</param>
    /// <returns>Processed logits with the input's shape, dtype and device.</returns>
    Tensor Apply(Tensor logits);
}
