using Microsoft.ML;
using Microsoft.ML.Data;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// Saves a stage as an equivalent chain of stock ML.NET transforms, since ML.NET offers an outside library no way to
/// save its own transformer type. The chain copies the input column to a fixed name, adds a constant key column, maps
/// the key to the stage's parameters with <c>MapValue</c> (so the parameters, including projection weights, are
/// stored inside the model zip), runs a <c>CustomMapping</c> whose versioned contract name (see
/// <see cref="SavedContracts"/>) ML.NET resolves on load, copies the result to the user's column names and drops the
/// temporary columns.
/// </summary>
/// <remarks>
/// The loaded model is made of those stock transforms, not of <see cref="LmHeadTransformer"/>s: its vector columns have
/// variable size, and each row copies the parameters out of the lookup table, which for a large projection costs a
/// copy of the weight matrix per row.
/// </remarks>
internal static class SavedForm
{
    public static void Save(LmHeadTransformer stage, ModelSaveContext ctx)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        if (stage is NextTokenSamplingTransformer { StreamKeyColumn: null })
        {
            throw new NotSupportedException(
                "SampleNextToken: a sampler keyed by the row id cannot be saved, because a loaded ML.NET model cannot read row ids. "
                + "Pass streamKeyColumnName (an integer column such as a request id) to SampleNextToken to make the model saveable.");
        }

        if (stage.HistoryColumnName is { } history)
        {
            throw new NotSupportedException(
                $"{stage.StageName}: a penalty stage that reads the history column '{history}' cannot be saved yet; "
                + "save the model without it and apply the penalty after loading.");
        }

        var ml = new MLContext(seed: 0);
        ICanSaveModel chain = stage is LogitsProjectionTransformer projection
            ? SavedProjection.Build(ml, projection, EmptyInput(ml, stage))
            : BuildChain(ml, stage).Fit(EmptyInput(ml, stage));
        chain.Save(ctx);
    }

    /// <summary>The first saved form of a stage (every stage's parameters in a <c>MapValue</c> table); benchmarks compare it with the current one.</summary>
    internal static TransformerChain<ITransformer> Version1(LmHeadTransformer stage)
    {
        var ml = new MLContext(seed: 0);
        return BuildChain(ml, stage).Fit(EmptyInput(ml, stage));
    }

    private static EstimatorChain<ITransformer> BuildChain(MLContext ml, LmHeadTransformer stage)
    {
        float[] parameters = stage.SavedParameters();
        var temporaries = new List<string> { SavedColumns.Input, SavedColumns.ParameterKey, SavedColumns.Parameters };
        var chain = new EstimatorChain<ITransformer>()
            .Append<ITransformer>(ml.Transforms.CopyColumns(SavedColumns.Input, stage.InputColumnName))
            .Append<ITransformer>(ml.Transforms.CustomMapping(new SavedParameterKeyFactory().GetMapping(), SavedContracts.ParameterKey))
            .Append<ITransformer>(ml.Transforms.Conversion.MapValue(
                SavedColumns.Parameters, [new KeyValuePair<uint, float[]>(0, parameters.Length == 0 ? [0f] : parameters)], SavedColumns.ParameterKey));
        if (stage.StreamKeyColumnName is { } streamKey)
        {
            bool signed = stage is NextTokenSamplingTransformer { SignedStreamKey: true };
            chain = chain.Append<ITransformer>(
                ml.Transforms.Conversion.ConvertType(SavedColumns.StreamKey, streamKey, signed ? DataKind.Int64 : DataKind.UInt64));
            temporaries.Add(SavedColumns.StreamKey);
        }

        chain = chain.Append(stage.CreateSavedMapping(ml));
        foreach (var column in stage.OutputColumns)
        {
            string saved = column.Kind switch
            {
                StageOutputKind.Vector => SavedColumns.Output,
                StageOutputKind.TokenId => SavedColumns.TokenId,
                _ => SavedColumns.Probability,
            };
            chain = chain.Append<ITransformer>(ml.Transforms.CopyColumns(column.Name, saved));
            temporaries.Add(saved);
        }

        return chain.Append<ITransformer>(ml.Transforms.DropColumns([.. temporaries]));
    }

    /// <summary>An empty data view with the stage's input columns, to fit the saved chain on.</summary>
    private static IDataView EmptyInput(MLContext ml, LmHeadTransformer stage)
    {
        var definition = SchemaDefinition.Create(typeof(InputRow));
        definition[nameof(InputRow.Values)].ColumnName = stage.InputColumnName;
        definition[stage.InputColumnName].ColumnType = new VectorDataViewType(NumberDataViewType.Single, stage.InputSize);
        bool signed = stage is NextTokenSamplingTransformer { SignedStreamKey: true };
        string keyMember = signed ? nameof(InputRow.SignedKey) : nameof(InputRow.Key);
        definition.RemoveAll(c => c.MemberName != nameof(InputRow.Values) && (stage.StreamKeyColumnName is null || c.MemberName != keyMember));
        if (stage.StreamKeyColumnName is { } key)
        {
            definition[keyMember].ColumnName = key;
        }

        return ml.Data.LoadFromEnumerable(Array.Empty<InputRow>(), definition);
    }

    private sealed class InputRow
    {
        public float[] Values { get; set; } = [];

        public ulong Key { get; set; }

        public long SignedKey { get; set; }
    }
}
