using Microsoft.ML.Data;

namespace LmHead.Extensions.MachineLearning;

/// <summary>Input of the projection's weight request: the header.</summary>
internal sealed class SavedRequestInput
{
    /// <summary>V, d, has-bias and the id of the saved weights.</summary>
    [ColumnName(SavedColumns.Parameters)]
    public float[] Parameters { get; set; } = [];
}
