using LmHead.Extensions.Decoding;

namespace LmHead.Extensions.MachineLearning;

/// <summary>What a chain stage amounts to when the chain is turned into a decoding pipeline.</summary>
internal enum ChainStageKind
{
    /// <summary>A logits-to-logits stage (temperature, top-k, top-p, min-p, logit bias, a penalty).</summary>
    Logits,

    /// <summary><c>NormalizeToProbabilities</c>.</summary>
    Softmax,

    /// <summary><c>SampleNextToken</c>.</summary>
    Sampler,
}

/// <summary>
/// One LM-head stage of an ML.NET chain, fitted or loaded from a zip: its catalog name, its tensor stage, the sampler's
/// seed, and the columns it reads and writes when they are known (a loaded stage's user column names are not public).
/// </summary>
internal sealed record ChainStage(
    string Name, ChainStageKind Kind, ILogitsStage? Stage, ulong Seed = 0, string? InputColumn = null, string? OutputColumn = null);
