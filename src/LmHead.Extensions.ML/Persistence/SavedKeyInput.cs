using Microsoft.ML.Data;

namespace LmHead.Extensions.MachineLearning;

/// <summary>Input of the parameter-key mapping.</summary>
internal sealed class SavedKeyInput
{
    /// <summary>The stage's input vector (not read; it ties the key to the row).</summary>
    [ColumnName(SavedColumns.Input)]
    public float[] Input { get; set; } = [];
}
