using Microsoft.ML.Data;

namespace LmHead.Extensions.MachineLearning;

/// <summary>What an output column of a stage holds.</summary>
internal enum StageOutputKind
{
    /// <summary>A <c>Vector&lt;Single&gt;</c> (logits or probabilities).</summary>
    Vector,

    /// <summary>A sampled token id (<c>UInt32</c>).</summary>
    TokenId,

    /// <summary>The probability of the sampled token (<c>Single</c>).</summary>
    Probability,
}

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

/// <summary>The values a stage computed for one row; reused from row to row by a cursor.</summary>
internal sealed class StageRowValues
{
    public StageRowValues(int vectorSize) => Vector = new float[vectorSize];

    public float[] Vector { get; }

    public uint TokenId { get; set; }

    public float Probability { get; set; }
}
