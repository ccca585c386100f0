using Microsoft.ML.Data;

namespace LmHead.Extensions.MachineLearning;

/// <summary>Output of the parameter-key mapping.</summary>
internal sealed class SavedKeyOutput
{
    /// <summary>Always 0: the key under which the stage's parameters are stored.</summary>
    [ColumnName(SavedColumns.ParameterKey)]
    public uint Key { get; set; }
}
