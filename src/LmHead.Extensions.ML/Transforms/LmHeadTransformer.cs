using Microsoft.ML;
using Microsoft.ML.Data;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// The base of the LM-head transformers: each reads one <c>Vector&lt;Single&gt;</c> column and adds its own column(s),
/// lazily, computing a row's values once per cursor position.
/// </summary>
/// <remarks>
/// Only this library derives from this class (its members for derived types are internal). A transformer's settings
/// are immutable and it may be read by several cursors at once (parallel cursor sets, one <c>PredictionEngine</c> per
/// thread). <c>mlContext.Model.Save</c> writes it as an equivalent chain of stock ML.NET transforms that
/// <c>Model.Load</c> reads back in any process (see docs/machine-learning.md for what that form can and cannot do).
/// </remarks>
public abstract class LmHeadTransformer : ITransformer
{
    private long _computedRowCount;

    internal LmHeadTransformer(string inputColumnName, int inputSize)
    {
        InputColumnName = inputColumnName;
        InputSize = inputSize;
    }

    /// <summary>The name of the column the transformer reads.</summary>
    public string InputColumnName { get; }

    /// <summary>The size of the input vector, fixed when the estimator was fitted.</summary>
    public int InputSize { get; }

    /// <inheritdoc />
    public bool IsRowToRowMapper => true;

    /// <summary>The stage's name as the catalog spells it, used in error messages.</summary>
    internal abstract string StageName { get; }

    /// <summary>The integer column whose value keys a row's random stream, or <see langword="null"/> for the row id.</summary>
    internal virtual string? StreamKeyColumnName => null;

    /// <summary>The <c>Vector&lt;Single&gt;</c> column of token ids a penalty stage reads, or <see langword="null"/>.</summary>
    internal virtual string? HistoryColumnName => null;

    /// <summary>The columns the transformer adds.</summary>
    internal abstract IReadOnlyList<StageOutputColumn> OutputColumns { get; }

    /// <inheritdoc />
    /// <exception cref="ArgumentOutOfRangeException">The input column is missing or is not a <c>Vector&lt;Single&gt;</c> of <see cref="InputSize"/> items.</exception>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => new StageBinding(this, inputSchema).OutputSchema;

    /// <inheritdoc />
    /// <exception cref="ArgumentOutOfRangeException">The input column is missing or is not a <c>Vector&lt;Single&gt;</c> of <see cref="InputSize"/> items.</exception>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new StageRowToRowMapper(new StageBinding(this, inputSchema));

    /// <inheritdoc />
    /// <exception cref="ArgumentOutOfRangeException">The input column is missing or is not a <c>Vector&lt;Single&gt;</c> of <see cref="InputSize"/> items.</exception>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new StageDataView(new StageBinding(this, input.Schema), input);
    }

    /// <summary>Saves the transformer as an equivalent chain of ML.NET transforms that a fresh process can load.</summary>
    /// <param name="ctx">The save context ML.NET passes in.</param>
    void ICanSaveModel.Save(ModelSaveContext ctx) => SavedForm.Save(this, ctx);

    /// <summary>How many rows the transformer has computed, over all cursors (lets tests check that rows are not recomputed).</summary>
    internal long ComputedRowCount => Interlocked.Read(ref _computedRowCount);

    /// <summary>Counts one computed row.</summary>
    internal void CountComputedRow() => Interlocked.Increment(ref _computedRowCount);

    /// <summary>Checks the input schema and returns the input column's index.</summary>
    internal int ValidateInput(DataViewSchema inputSchema) =>
        ColumnRequirements.RequireSingleVector(inputSchema, InputColumnName, InputSize, StageName);

    /// <summary>Computes one row: reads <paramref name="input"/> (<see cref="InputSize"/> values) and fills <paramref name="output"/>.</summary>
    /// <param name="input">The row's input vector.</param>
    /// <param name="rowKey">A key derived from the row id, stable across sequential and parallel cursors.</param>
    /// <param name="output">Where to write the row's values.</param>
    internal abstract void Compute(float[] input, ulong rowKey, StageRowValues output);

    /// <summary>Computes one row of a stage that reads a history column; other stages ignore the history.</summary>
    /// <param name="input">The row's input vector.</param>
    /// <param name="rowKey">A key derived from the row id.</param>
    /// <param name="history">The row's history column (token ids as floats), empty when the stage has none.</param>
    /// <param name="output">Where to write the row's values.</param>
    internal virtual void Compute(float[] input, ulong rowKey, ReadOnlySpan<float> history, StageRowValues output) => Compute(input, rowKey, output);

    /// <summary>The <c>CustomMapping</c> that computes the stage in a saved model.</summary>
    internal abstract IEstimator<ITransformer> CreateSavedMapping(MLContext ml);

    /// <summary>The parameters a saved model needs to rebuild the stage (see <see cref="SavedForm"/>).</summary>
    internal abstract float[] SavedParameters();
}
