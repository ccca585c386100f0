using Microsoft.ML.Data;

namespace LmHead.Extensions.MachineLearning;

/// <summary>Input of a saved stage.</summary>
internal sealed class SavedStageInput
{
    /// <summary>The stage's input vector.</summary>
    [ColumnName(SavedColumns.Input)]
    public float[] Input { get; set; } = [];

    /// <summary>The stage's parameters (the same on every row).</summary>
    [ColumnName(SavedColumns.Parameters)]
    public float[] Parameters { get; set; } = [];
}
