using Microsoft.ML.Data;

namespace LmHead.Extensions.MachineLearning;

/// <summary>A column a stage adds to the schema.</summary>
internal sealed record StageOutputColumn(string Name, StageOutputKind Kind, int VectorSize)
{
    /// <summary>The ML.NET type of the column.</summary>
    public DataViewType Type => Kind switch
    {
        StageOutputKind.Vector => new VectorDataViewType(NumberDataViewType.Single, VectorSize),
        StageOutputKind.TokenId => NumberDataViewType.UInt32,
        _ => NumberDataViewType.Single,
    };
}
