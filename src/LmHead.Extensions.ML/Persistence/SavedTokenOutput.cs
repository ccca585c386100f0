using Microsoft.ML.Data;

namespace LmHead.Extensions.MachineLearning;

/// <summary>Output of a saved sampler.</summary>
internal sealed class SavedTokenOutput
{
    /// <summary>The sampled token id.</summary>
    [ColumnName(SavedColumns.TokenId)]
    public uint TokenId { get; set; }

    /// <summary>The sampled token's probability.</summary>
    [ColumnName(SavedColumns.Probability)]
    public float Probability { get; set; }
}
