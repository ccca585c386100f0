using static TorchSharp.torch;

namespace LmHead.Extensions.Decoding;

/// <summary>
/// A stage whose effect depends on the tokens seen so far (repetition, frequency and presence penalties).
/// <see cref="ILogitsStage.Apply(Tensor)"/> on such a stage means an empty history. A batch <c>[B, V]</c> gets the same
/// history on every row.
/// </summary>
public interface ITokenHistoryStage : ILogitsStage
{
    /// <summary>Applies the stage given the history; the returned tensor is a new handle the caller owns.</summary>
    /// <param name="logits">Logits <c>[V]</c> or <c>[B, V]</c>.</param>
    /// <param name="history">The tokens seen so far.</param>
    /// <returns>Processed logits with the input's shape, dtype and device.</returns>
    Tensor Apply(Tensor logits, TokenHistory history);
}
