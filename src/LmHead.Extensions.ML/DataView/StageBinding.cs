using Microsoft.ML;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// A stage bound to an input schema: the output schema (the input columns, then the added ones) and the mapping from
/// requested output columns to the input columns a cursor must read. Shared by the data view and the row mapper.
/// </summary>
internal sealed class StageBinding
{
    public StageBinding(LmHeadTransformer stage, DataViewSchema inputSchema)
    {
        Stage = stage;
        InputSchema = inputSchema;
        InputColumnIndex = stage.ValidateInput(inputSchema);
        StreamKeyColumnIndex = stage.StreamKeyColumnName is { } key ? RowKeys.RequireKeyColumn(inputSchema, key, stage.StageName) : null;
        HistoryColumnIndex = stage.HistoryColumnName is { } history ? RequireHistoryColumn(inputSchema, history, stage.StageName) : null;
        OutputColumns = stage.OutputColumns;
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(inputSchema);
        foreach (var column in OutputColumns)
        {
            builder.AddColumn(column.Name, column.Type);
        }

        OutputSchema = builder.ToSchema();
    }

    public LmHeadTransformer Stage { get; }

    public DataViewSchema InputSchema { get; }

    public DataViewSchema OutputSchema { get; }

    public int InputColumnIndex { get; }

    /// <summary>The user's stream-key column, or <see langword="null"/> when the row id is the key.</summary>
    public int? StreamKeyColumnIndex { get; }

    /// <summary>The history column of a penalty stage, or <see langword="null"/>.</summary>
    public int? HistoryColumnIndex { get; }

    public IReadOnlyList<StageOutputColumn> OutputColumns { get; }

    /// <summary>Splits requested output columns into the input columns to read and the added columns to compute.</summary>
    public (List<DataViewSchema.Column> InputColumns, bool[] ActiveOutputs) Split(IEnumerable<DataViewSchema.Column> requested)
    {
        var active = new bool[OutputColumns.Count];
        var inputs = new SortedSet<int>();
        foreach (var column in requested)
        {
            if (column.Index < InputSchema.Count)
            {
                inputs.Add(column.Index);
            }
            else
            {
                active[column.Index - InputSchema.Count] = true;
                inputs.Add(InputColumnIndex);
                if (StreamKeyColumnIndex is { } key)
                {
                    inputs.Add(key);
                }

                if (HistoryColumnIndex is { } history)
                {
                    inputs.Add(history);
                }
            }
        }

        return (inputs.Select(i => InputSchema[i]).ToList(), active);
    }

    private static int RequireHistoryColumn(DataViewSchema schema, string columnName, string stage)
    {
        var column = schema.GetColumnOrNull(columnName) ?? throw new ArgumentOutOfRangeException(nameof(schema),
            $"{stage}: history column '{columnName}' was not found; the schema has: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => $"'{c.Name}'"))}.");
        if (column.Type is not Microsoft.ML.Data.VectorDataViewType { ItemType: var item } || item != Microsoft.ML.Data.NumberDataViewType.Single)
        {
            throw new ArgumentOutOfRangeException(nameof(schema),
                $"{stage}: history column '{columnName}' must be a Vector<Single> of token ids (any length), but is {column.Type}.");
        }

        return column.Index;
    }
}
