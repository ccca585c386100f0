using Microsoft.ML;
using Microsoft.ML.Data;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// The per-row key a sampler seeds its stream with: the row id, or the value of an integer column chosen by the user
/// (which, unlike the row id, a saved model can still read after loading).
/// </summary>
internal static class RowKeys
{
    private static readonly DataViewType[] KeyTypes =
        [NumberDataViewType.UInt64, NumberDataViewType.UInt32, NumberDataViewType.Int64, NumberDataViewType.Int32];

    /// <summary>Checks a stream-key column and returns its index.</summary>
    public static int RequireKeyColumn(DataViewSchema schema, string columnName, string stage)
    {
        var column = schema.GetColumnOrNull(columnName) ?? throw new ArgumentOutOfRangeException(nameof(schema),
            $"{stage}: stream-key column '{columnName}' was not found; the schema has: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => $"'{c.Name}'"))}.");
        if (!KeyTypes.Contains(column.Type))
        {
            throw new ArgumentOutOfRangeException(nameof(schema),
                $"{stage}: stream-key column '{columnName}' must be a scalar UInt64, UInt32, Int64 or Int32, but is {column.Type}.");
        }

        return column.Index;
    }

    /// <summary>Creates a reader of the current row's key.</summary>
    public static Func<ulong> CreateReader(DataViewRow row, DataViewSchema.Column? keyColumn)
    {
        if (keyColumn is not { } column)
        {
            var id = row.GetIdGetter();
            return () =>
            {
                DataViewRowId value = default;
                id(ref value);
                return value.Low ^ (value.High * 0x9E3779B97F4A7C15UL);
            };
        }

        if (column.Type == NumberDataViewType.UInt64)
        {
            return Reader<ulong>(row, column, v => v);
        }

        if (column.Type == NumberDataViewType.UInt32)
        {
            return Reader<uint>(row, column, v => v);
        }

        return column.Type == NumberDataViewType.Int64
            ? Reader<long>(row, column, v => unchecked((ulong)v))
            : Reader<int>(row, column, v => unchecked((ulong)v));
    }

    private static Func<ulong> Reader<T>(DataViewRow row, DataViewSchema.Column column, Func<T, ulong> convert)
    {
        var getter = row.GetGetter<T>(column);
        return () =>
        {
            T value = default!;
            getter(ref value);
            return convert(value);
        };
    }
}
