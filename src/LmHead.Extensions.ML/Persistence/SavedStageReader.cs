using System.Reflection;
using LmHead.Extensions.Decoding;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// Recognises the saved form of a stage (see <see cref="SavedForm"/>) in a loaded model and recovers the stage: its
/// contract name from the <c>CustomMapping</c> that computes it, its parameters from the <c>MapValue</c> table.
/// </summary>
/// <remarks>
/// ML.NET 5.0.1 keeps a <c>CustomMappingTransformer</c>'s contract name only in the private field
/// <c>_contractName</c>; it is read by reflection, and a future ML.NET without that field gives an error saying so. The
/// parameters are read publicly: the <c>MapValue</c> transformer maps the constant key 0 of a one-row view.
/// </remarks>
internal static class SavedStageReader
{
    private const string ContractNameField = "_contractName";

    /// <summary>Whether <paramref name="transformer"/> is a <c>CustomMapping</c> (any input and output row types).</summary>
    public static bool IsCustomMapping(ITransformer transformer) =>
        transformer.GetType() is { IsGenericType: true } type && type.GetGenericTypeDefinition() == typeof(CustomMappingTransformer<,>);

    /// <summary>The contract name a <c>CustomMapping</c> was saved and loaded with.</summary>
    /// <exception cref="NotSupportedException">This ML.NET version keeps the contract name elsewhere.</exception>
    public static string? ContractName(ITransformer customMapping)
    {
        var field = customMapping.GetType().GetField(ContractNameField, BindingFlags.Instance | BindingFlags.NonPublic);
        if (field is null || field.FieldType != typeof(string))
        {
            throw new NotSupportedException(
                $"ToDecodingPipeline: cannot read the contract name of {customMapping.GetType().Name}: this ML.NET version has no private "
                + $"string field '{ContractNameField}' (ML.NET 5.0.1 has). Serve a fitted chain, or build the pipeline with DecodingPipelineBuilder.");
        }

        return (string?)field.GetValue(customMapping);
    }

    /// <summary>Whether a nested chain holds an LM-head saved form (a <c>CustomMapping</c> with an <c>LmHead.</c> contract).</summary>
    public static bool IsSavedStage(IEnumerable<ITransformer> chain) =>
        chain.Any(t => IsCustomMapping(t) && ContractName(t) is { } name && name.StartsWith("LmHead.", StringComparison.Ordinal));

    /// <summary>Recovers the stage a saved form describes.</summary>
    /// <exception cref="NotSupportedException">The form holds a projection, or an element that is not part of a saved form.</exception>
    /// <exception cref="InvalidDataException">The form is incomplete.</exception>
    public static ChainStage Read(IReadOnlyList<ITransformer> form)
    {
        string? contract = null;
        ITransformer? table = null;
        foreach (var transformer in form)
        {
            if (IsCustomMapping(transformer))
            {
                string name = ContractName(transformer) ?? "";
                if (name is SavedContracts.ProjectToLogits or SavedContracts.ProjectToLogitsV2 or SavedContracts.ProjectionWeightRequest)
                {
                    throw ProjectionNotSupported();
                }

                if (name != SavedContracts.ParameterKey)
                {
                    contract = name;
                }
            }
            else if (transformer is ValueMappingTransformer)
            {
                table = transformer;
            }
            else if (transformer is not (ColumnCopyingTransformer or ColumnSelectingTransformer or TypeConvertingTransformer))
            {
                throw new NotSupportedException(
                    $"ToDecodingPipeline: a saved LM-head stage holds a {transformer.GetType().Name}, which its saved form never contains; the file was not written by LmHead.Extensions.ML.");
            }
        }

        if (contract is null || table is null)
        {
            throw new InvalidDataException(
                $"ToDecodingPipeline: a saved LM-head stage lacks its {(contract is null ? "stage mapping" : "parameter table (MapValue)")}; the model file is incomplete.");
        }

        // The same checks as the saved stages' own factories: the table is data in the zip.
        float[] p = Parameters(table);
        return contract switch
        {
            SavedContracts.ScaleTemperature => new("ScaleTemperature", ChainStageKind.Logits, SavedParameterChecks.Restore(contract, p, p =>
            {
                SavedParameterChecks.RequireLength(contract, p, 1);
                return new TemperatureScaler(p[0]);
            })),
            SavedContracts.KeepTopK => new("KeepTopK", ChainStageKind.Logits, SavedParameterChecks.Restore(contract, p, p =>
            {
                SavedParameterChecks.RequireLength(contract, p, 1);
                return new TopKFilter(SavedParameterChecks.RequireInteger(contract, p, 0, "k", 1, int.MaxValue));
            })),
            SavedContracts.FilterLogits => FilterStage(p),
            SavedContracts.NormalizeToProbabilities => new("NormalizeToProbabilities", ChainStageKind.Softmax, new SoftmaxStage()),
            SavedContracts.SampleNextToken or SavedContracts.SampleNextTokenSignedKey =>
                new("SampleNextToken", ChainStageKind.Sampler, null, SavedSeed.Decode(contract, p)),
            _ => throw new NotSupportedException(
                $"ToDecodingPipeline: the saved contract '{contract}' is not one this version of LmHead.Extensions.ML knows; update the package."),
        };
    }

    /// <summary>A saved top-p / min-p / logit-bias stage, its layout checked before its name is read.</summary>
    private static ChainStage FilterStage(float[] parameters)
    {
        var filter = LogitsFilter.Restore(parameters);
        return new(LogitsFilter.StageName(parameters), ChainStageKind.Logits, filter);
    }

    /// <summary>The error for a projection stage: the served model projects with its own output embeddings.</summary>
    public static NotSupportedException ProjectionNotSupported() => new(
        "ToDecodingPipeline: the chain holds ProjectToLogits. A served model projects hidden states with its own output embeddings, "
        + "so a decoding pipeline starts at the logits: build the chain from the logits column on (ScaleTemperature, KeepTopK, ..., "
        + "NormalizeToProbabilities, SampleNextToken), or drop the projection before serving.");

    private static float[] Parameters(ITransformer table)
    {
        var ml = new MLContext(seed: 0);
        var oneRow = ml.Data.LoadFromEnumerable([new KeyRow()]);
        return ml.Data.CreateEnumerable<ParametersRow>(table.Transform(oneRow), reuseRowObject: false).Single().Parameters;
    }

    private sealed class KeyRow
    {
        [ColumnName(SavedColumns.ParameterKey)]
        public uint Key { get; set; }
    }

    private sealed class ParametersRow
    {
        [ColumnName(SavedColumns.Parameters)]
        public float[] Parameters { get; set; } = [];
    }
}
