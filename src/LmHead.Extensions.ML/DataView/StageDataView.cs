using Microsoft.ML;

namespace LmHead.Extensions.MachineLearning;

/// <summary>The lazy result of a stage's <c>Transform</c>: nothing is computed until a cursor reads an added column.</summary>
internal sealed class StageDataView : IDataView
{
    private readonly StageBinding _binding;
    private readonly IDataView _input;

    public StageDataView(StageBinding binding, IDataView input)
    {
        _binding = binding;
        _input = input;
    }

    public bool CanShuffle => _input.CanShuffle;

    public DataViewSchema Schema => _binding.OutputSchema;

    public long? GetRowCount() => _input.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var (inputs, active) = _binding.Split(columnsNeeded);
        return new StageRowCursor(_binding, _input.GetRowCursor(inputs, rand), active, ownsInput: true);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
    {
        var (inputs, active) = _binding.Split(columnsNeeded);
        return _input.GetRowCursorSet(inputs, n, rand)
            .Select(cursor => (DataViewRowCursor)new StageRowCursor(_binding, cursor, active, ownsInput: true))
            .ToArray();
    }
}
