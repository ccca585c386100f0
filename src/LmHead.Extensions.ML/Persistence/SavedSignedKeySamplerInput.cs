using Microsoft.ML.Data;

namespace LmHead.Extensions.MachineLearning;

/// <summary>Input of a saved sampler keyed by a signed integer column.</summary>
internal sealed class SavedSignedKeySamplerInput
{
    /// <summary>The probabilities.</summary>
    [ColumnName(SavedColumns.Input)]
    public float[] Input { get; set; } = [];

    /// <summary>The sampler's parameters (the seed).</summary>
    [ColumnName(SavedColumns.Parameters)]
    public float[] Parameters { get; set; } = [];

    /// <summary>The row's stream key.</summary>
    [ColumnName(SavedColumns.StreamKey)]
    public long StreamKey { get; set; }
}
