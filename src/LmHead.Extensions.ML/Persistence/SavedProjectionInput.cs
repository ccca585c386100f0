using Microsoft.ML.Data;

namespace LmHead.Extensions.MachineLearning;

/// <summary>Input of the saved projection (format v2).</summary>
internal sealed class SavedProjectionInput
{
    /// <summary>The hidden state.</summary>
    [ColumnName(SavedColumns.Input)]
    public float[] Input { get; set; } = [];

    /// <summary>V, d, has-bias and the id of the saved weights.</summary>
    [ColumnName(SavedColumns.Parameters)]
    public float[] Parameters { get; set; } = [];

    /// <summary>The weights then the bias, on rows that asked for them; an empty sparse vector otherwise.</summary>
    [ColumnName(SavedColumns.Weights)]
    public VBuffer<float> Weights { get; set; }
}
