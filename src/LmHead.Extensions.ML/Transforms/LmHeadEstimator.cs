using Microsoft.ML;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// The base of the LM-head estimators. Fitting looks only at the schema (the input column's size), never at the data.
/// </summary>
/// <typeparam name="TTransformer">The transformer the estimator produces.</typeparam>
public abstract class LmHeadEstimator<TTransformer> : IEstimator<TTransformer>
    where TTransformer : LmHeadTransformer
{
    internal LmHeadEstimator(string outputColumnName, string inputColumnName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(outputColumnName);
        ArgumentException.ThrowIfNullOrWhiteSpace(inputColumnName);
        OutputColumnName = outputColumnName;
        InputColumnName = inputColumnName;
    }

    /// <summary>The name of the (first) column the estimator adds.</summary>
    public string OutputColumnName { get; }

    /// <summary>The name of the column the estimator reads.</summary>
    public string InputColumnName { get; }

    /// <summary>The stage's name as the catalog spells it, used in error messages.</summary>
    internal abstract string StageName { get; }

    /// <summary>The input size the stage requires, or <see langword="null"/> for any known size.</summary>
    internal virtual int? RequiredInputSize => null;

    /// <summary>Creates the transformer for the given input vector size.</summary>
    /// <param name="input">The data to fit on; only its schema is read.</param>
    /// <returns>The transformer.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="input"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The input column is missing, or is not a <c>Vector&lt;Single&gt;</c> of the required size.</exception>
    public TTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        int index = ColumnRequirements.RequireSingleVector(input.Schema, InputColumnName, RequiredInputSize, StageName);
        var size = ((Microsoft.ML.Data.VectorDataViewType)input.Schema[index].Type).Size;
        var transformer = Create(size, input.Schema);
        transformer.GetOutputSchema(input.Schema);
        return transformer;
    }

    /// <summary>Returns the input shape plus the added columns (a shape carries no vector sizes; sizes are checked in <see cref="Fit"/>).</summary>
    /// <param name="inputSchema">The input shape.</param>
    /// <returns>The output shape.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="inputSchema"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The input column is missing, scalar, variable-size or not of Single items.</exception>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        ColumnRequirements.RequireSingleVector(inputSchema, InputColumnName, StageName);
        return SchemaShapes.Append(inputSchema, DescribeOutputs(RequiredInputSize ?? 1));
    }

    /// <summary>Describes the columns a transformer for an input of <paramref name="inputSize"/> values adds.</summary>
    internal abstract IReadOnlyList<StageOutputColumn> DescribeOutputs(int inputSize);

    /// <summary>Creates the transformer for an input of <paramref name="inputSize"/> values.</summary>
    /// <param name="inputSize">The input vector's size.</param>
    /// <param name="inputSchema">The schema fitted on, or <see langword="null"/> when only a shape is known.</param>
    internal abstract TTransformer Create(int inputSize, DataViewSchema? inputSchema);
}
