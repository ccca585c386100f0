namespace LmHead.Extensions.MachineLearning;

/// <summary>What an output column of a stage holds.</summary>
internal enum StageOutputKind
{
    /// <summary>A <c>Vector&lt;Single&gt;</c> (logits or probabilities).</summary>
    Vector,

    /// <summary>A sampled token id (<c>UInt32</c>).</summary>
    TokenId,

    /// <summary>The probability of the sampled token (<c>Single</c>).</summary>
    Probability,
}
