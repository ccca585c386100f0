using Microsoft.ML;
using Microsoft.ML.Data;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// Builds output <see cref="SchemaShape"/>s. <c>SchemaShape.Column</c> cannot be constructed outside ML.NET, so the
/// shape of the added columns is obtained from a <c>CustomMapping</c> estimator whose output schema definition
/// describes them; the mapping itself never runs.
/// </summary>
internal static class SchemaShapes
{
    public static SchemaShape Append(SchemaShape input, IReadOnlyList<StageOutputColumn> columns)
    {
        var added = SchemaDefinition.Create(typeof(ShapeRow));
        var kinds = columns.ToDictionary(c => c.Kind switch
        {
            StageOutputKind.Vector => nameof(ShapeRow.Vector),
            StageOutputKind.TokenId => nameof(ShapeRow.TokenId),
            _ => nameof(ShapeRow.Probability),
        });
        added.RemoveAll(c => !kinds.ContainsKey(c.MemberName));
        foreach (var template in added)
        {
            var column = kinds[template.MemberName];
            template.ColumnName = column.Name;
            template.ColumnType = column.Type;
        }

        var estimator = new MLContext(seed: 0).Transforms.CustomMapping<EmptyRow, ShapeRow>(
            static (_, _) => throw new InvalidOperationException("Shape-only mapping."), contractName: null, outputSchemaDefinition: added);
        return estimator.GetOutputSchema(input);
    }

    private sealed class EmptyRow
    {
    }

    private sealed class ShapeRow
    {
        public float[] Vector { get; set; } = [];

        public uint TokenId { get; set; }

        public float Probability { get; set; }
    }
}
