namespace LmHead.Extensions.Generation;

/// <summary>Why a generation ended.</summary>
public enum FinishReason
{
    /// <summary>
    /// <see cref="GenerationOptions.MaxNewTokens"/> tokens were generated, or the model's context (<c>n_positions</c>)
    /// is full.
    /// </summary>
    Length,

    /// <summary>The text reached one of <see cref="GenerationOptions.StopSequences"/> (not included in the output).</summary>
    StopSequence,

    /// <summary>The model produced its end-of-text token (not included in the output).</summary>
    EndOfText,

    /// <summary>
    /// The text satisfies <see cref="GenerationOptions.OutputConstraint"/> and its grammar allows nothing more (a JSON
    /// value closed its last bracket): generation ended without another token.
    /// </summary>
    GrammarComplete,
}
