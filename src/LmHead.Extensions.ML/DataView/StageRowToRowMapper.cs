using Microsoft.ML.Data;
using Microsoft.ML;

namespace LmHead.Extensions.MachineLearning;

/// <summary>Maps one row at a time (what <c>PredictionEngine</c> uses), with the same caching as the cursor.</summary>
internal sealed class StageRowToRowMapper : IRowToRowMapper
{
    private readonly StageBinding _binding;

    public StageRowToRowMapper(StageBinding binding) => _binding = binding;

    public DataViewSchema InputSchema => _binding.InputSchema;

    public DataViewSchema OutputSchema => _binding.OutputSchema;

    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns) =>
        _binding.Split(dependingColumns).InputColumns;

    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new StageRowCursor(_binding, input, _binding.Split(activeColumns).ActiveOutputs, ownsInput: false);
    }
}
