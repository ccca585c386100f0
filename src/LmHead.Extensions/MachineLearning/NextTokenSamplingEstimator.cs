namespace LmHead.Extensions.MachineLearning;

/// <summary>Estimator for <see cref="NextTokenSamplingTransformer"/>; created by <c>TransformsCatalog.SampleNextToken</c>.</summary>
/// <remarks>
/// | Characteristic | Value |
/// | --- | --- |
/// | Input column | <c>Vector&lt;Single, V&gt;</c> (non-negative weights, typically probabilities) |
/// | Output columns | <c>UInt32</c> token id and <c>Single</c> probability of that token |
/// | Does Fit look at data? | No, only the schema |
/// | Deterministic | Yes given a seed: a row's token depends only on the seed, the row id and the row's values |
/// </remarks>
public sealed class NextTokenSamplingEstimator : LmHeadEstimator<NextTokenSamplingTransformer>
{
    internal NextTokenSamplingEstimator(string tokenColumnName, string probabilityColumnName, string inputColumnName, ulong seed)
        : base(tokenColumnName, inputColumnName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(probabilityColumnName);
        ProbabilityColumnName = probabilityColumnName;
        Seed = seed;
    }

    /// <summary>The name of the column holding the sampled token's probability.</summary>
    public string ProbabilityColumnName { get; }

    /// <summary>The seed the transformers will use.</summary>
    public ulong Seed { get; }

    internal override string StageName => "SampleNextToken";

    internal override NextTokenSamplingTransformer Create(int inputSize) =>
        new(OutputColumnName, ProbabilityColumnName, InputColumnName, inputSize, Seed);
}
