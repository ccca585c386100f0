using Microsoft.ML.Data;

namespace LmHead.Extensions.MachineLearning;

/// <summary>Output of a saved vector stage.</summary>
internal sealed class SavedVectorOutput
{
    /// <summary>The stage's output vector.</summary>
    [ColumnName(SavedColumns.Output)]
    public float[] Output { get; set; } = [];
}
