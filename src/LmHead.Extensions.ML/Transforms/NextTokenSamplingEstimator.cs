using Microsoft.ML;
using Microsoft.ML.Data;

namespace LmHead.Extensions.MachineLearning;

/// <summary>Estimator for <see cref="NextTokenSamplingTransformer"/>; created by <c>TransformsCatalog.SampleNextToken</c>.</summary>
/// <remarks>
/// | Characteristic | Value |
/// | --- | --- |
/// | Input column | <c>Vector&lt;Single, V&gt;</c> (non-negative weights, typically probabilities) |
/// | Output columns | <c>UInt32</c> token id and <c>Single</c> probability of that token |
/// | Does Fit look at data? | No, only the schema |
/// | Deterministic | Yes given a seed: a row's token depends only on the seed, the row's key (row id or stream-key column) and the row's values |
/// </remarks>
public sealed class NextTokenSamplingEstimator : LmHeadEstimator<NextTokenSamplingTransformer>
{
    internal NextTokenSamplingEstimator(
        string tokenColumnName, string probabilityColumnName, string inputColumnName, ulong seed, string? streamKeyColumnName)
        : base(tokenColumnName, inputColumnName)
    {
        StreamKeyColumnName = streamKeyColumnName;
        ArgumentException.ThrowIfNullOrWhiteSpace(probabilityColumnName);
        ProbabilityColumnName = probabilityColumnName;
        Seed = seed;
    }

    /// <summary>The name of the column holding the sampled token's probability.</summary>
    public string ProbabilityColumnName { get; }

    /// <summary>The seed the transformers will use.</summary>
    public ulong Seed { get; }

    /// <summary>The integer column that keys each row's random stream, or <see langword="null"/> to use the row id.</summary>
    public string? StreamKeyColumnName { get; }

    internal override IReadOnlyList<StageOutputColumn> DescribeOutputs(int inputSize) =>
    [
        new StageOutputColumn(OutputColumnName, StageOutputKind.TokenId, 0),
        new StageOutputColumn(ProbabilityColumnName, StageOutputKind.Probability, 0),
    ];

    internal override string StageName => "SampleNextToken";

    internal override NextTokenSamplingTransformer Create(int inputSize, DataViewSchema? inputSchema)
    {
        var keyType = StreamKeyColumnName is null ? null : inputSchema?.GetColumnOrNull(StreamKeyColumnName)?.Type;
        bool signed = keyType == NumberDataViewType.Int64 || keyType == NumberDataViewType.Int32;
        return new(OutputColumnName, ProbabilityColumnName, InputColumnName, inputSize, Seed, StreamKeyColumnName, signed);
    }
}
