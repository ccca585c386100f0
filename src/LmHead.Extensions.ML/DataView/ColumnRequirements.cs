using Microsoft.ML;
using Microsoft.ML.Data;

namespace LmHead.Extensions.MachineLearning;

/// <summary>Checks that an input column is a <c>Vector&lt;Single&gt;</c> of the expected size, with messages that name the column and sizes.</summary>
internal static class ColumnRequirements
{
    /// <summary>Returns the column's index after checking it; throws <see cref="ArgumentOutOfRangeException"/> otherwise.</summary>
    public static int RequireSingleVector(DataViewSchema schema, string columnName, int? expectedSize, string stage)
    {
        ArgumentNullException.ThrowIfNull(schema);
        var column = schema.GetColumnOrNull(columnName) ?? throw new ArgumentOutOfRangeException(nameof(schema),
            $"{stage}: input column '{columnName}' was not found; the schema has: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => $"'{c.Name}'"))}.");
        string expected = expectedSize is { } n ? $"Vector<Single, {n}>" : "Vector<Single> of known size";
        if (column.Type is not VectorDataViewType vector)
        {
            throw new ArgumentOutOfRangeException(nameof(schema),
                $"{stage}: input column '{columnName}' must be {expected}, but is the scalar {column.Type}; a vector column is required.");
        }

        if (vector.ItemType != NumberDataViewType.Single)
        {
            throw new ArgumentOutOfRangeException(nameof(schema),
                $"{stage}: input column '{columnName}' must be {expected}, but its item type is {vector.ItemType} ({vector}); convert it to Single first.");
        }

        if (vector.Dimensions.Length != 1 || !vector.IsKnownSize)
        {
            throw new ArgumentOutOfRangeException(nameof(schema),
                $"{stage}: input column '{columnName}' must be {expected}, but is {vector} (variable size or more than one dimension).");
        }

        if (expectedSize is { } size && vector.Size != size)
        {
            throw new ArgumentOutOfRangeException(nameof(schema),
                $"{stage}: input column '{columnName}' must have {size} items (Vector<Single, {size}>), but has {vector.Size} items.");
        }

        return column.Index;
    }

    /// <summary>Checks the same on a <see cref="SchemaShape"/>, which carries no vector sizes.</summary>
    public static void RequireSingleVector(SchemaShape shape, string columnName, string stage)
    {
        var matches = shape.Where(c => c.Name == columnName).ToList();
        if (matches.Count == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(shape),
                $"{stage}: input column '{columnName}' was not found; the schema has: {string.Join(", ", shape.Select(c => $"'{c.Name}'"))}.");
        }

        var column = matches[^1];

        if (column.Kind == SchemaShape.Column.VectorKind.Scalar)
        {
            throw new ArgumentOutOfRangeException(nameof(shape),
                $"{stage}: input column '{columnName}' must be Vector<Single> of known size, but is the scalar {column.ItemType}; a vector column is required.");
        }

        if (column.ItemType != NumberDataViewType.Single || column.IsKey)
        {
            throw new ArgumentOutOfRangeException(nameof(shape),
                $"{stage}: input column '{columnName}' must be Vector<Single> of known size, but its item type is {column.ItemType}; convert it to Single first.");
        }

        if (column.Kind != SchemaShape.Column.VectorKind.Vector)
        {
            throw new ArgumentOutOfRangeException(nameof(shape),
                $"{stage}: input column '{columnName}' must be Vector<Single> of known size, but has variable size.");
        }
    }
}
