using Microsoft.ML.Data;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// The fixed column names of the saved form. A loaded <c>CustomMapping</c> takes its columns from these attributes
/// (ML.NET does not save schema definitions), so they are part of the file format: never rename them.
/// </summary>
internal static class SavedColumns
{
    public const string Input = "LmHead.Input";
    public const string ParameterKey = "LmHead.ParameterKey";
    public const string Parameters = "LmHead.Parameters";
    public const string StreamKey = "LmHead.StreamKey";
    public const string Output = "LmHead.Output";
    public const string TokenId = "LmHead.TokenId";
    public const string Probability = "LmHead.Probability";
}

/// <summary>Input of the parameter-key mapping.</summary>
internal sealed class SavedKeyInput
{
    /// <summary>The stage's input vector (not read; it ties the key to the row).</summary>
    [ColumnName(SavedColumns.Input)]
    public float[] Input { get; set; } = [];
}

/// <summary>Output of the parameter-key mapping.</summary>
internal sealed class SavedKeyOutput
{
    /// <summary>Always 0: the key under which the stage's parameters are stored.</summary>
    [ColumnName(SavedColumns.ParameterKey)]
    public uint Key { get; set; }
}

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

/// <summary>Input of a saved sampler.</summary>
internal sealed class SavedSamplerInput
{
    /// <summary>The probabilities.</summary>
    [ColumnName(SavedColumns.Input)]
    public float[] Input { get; set; } = [];

    /// <summary>The sampler's parameters (the seed).</summary>
    [ColumnName(SavedColumns.Parameters)]
    public float[] Parameters { get; set; } = [];

    /// <summary>The row's stream key.</summary>
    [ColumnName(SavedColumns.StreamKey)]
    public ulong StreamKey { get; set; }
}

/// <summary>Output of a saved vector stage.</summary>
internal sealed class SavedVectorOutput
{
    /// <summary>The stage's output vector.</summary>
    [ColumnName(SavedColumns.Output)]
    public float[] Output { get; set; } = [];
}

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
