using Microsoft.ML;
using Microsoft.ML.Data;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// A row (or cursor) that passes the input's columns through and computes the stage's columns from the input column
/// when first read at a position, so chained columns and repeated reads of a row never recompute a stage.
/// </summary>
internal sealed class StageRowCursor : DataViewRowCursor
{
    private readonly StageBinding _binding;
    private readonly DataViewRow _input;
    private readonly DataViewRowCursor? _inputCursor;
    private readonly bool[] _activeOutputs;
    private readonly float[] _inputValues;
    private readonly StageRowValues _values;
    private ValueGetter<VBuffer<float>>? _inputGetter;
    private Func<ulong>? _rowKey;
    private VBuffer<float> _inputBuffer;
    private ValueGetter<VBuffer<float>>? _historyGetter;
    private VBuffer<float> _historyBuffer;
    private long _computedPosition = -1;

    /// <param name="binding">The stage and schemas.</param>
    /// <param name="input">The input row; a cursor when <paramref name="ownsInput"/> (moved and disposed with this one).</param>
    /// <param name="activeOutputs">Which added columns may be read.</param>
    /// <param name="ownsInput">Whether this object moves and disposes the input cursor.</param>
    public StageRowCursor(StageBinding binding, DataViewRow input, bool[] activeOutputs, bool ownsInput)
    {
        _binding = binding;
        _input = input;
        _inputCursor = ownsInput ? (DataViewRowCursor)input : null;
        _activeOutputs = activeOutputs;
        _inputValues = new float[binding.Stage.InputSize];
        _values = new StageRowValues(binding.OutputColumns.FirstOrDefault(c => c.Kind == StageOutputKind.Vector)?.VectorSize ?? 0);
    }

    public override DataViewSchema Schema => _binding.OutputSchema;

    public override long Position => _input.Position;

    public override long Batch => _input.Batch;

    public override bool MoveNext() =>
        _inputCursor?.MoveNext() ?? throw new InvalidOperationException("This row wraps a single input row and cannot move.");

    public override ValueGetter<DataViewRowId> GetIdGetter() => _input.GetIdGetter();

    public override bool IsColumnActive(DataViewSchema.Column column)
    {
        int inputCount = _binding.InputSchema.Count;
        return column.Index < inputCount ? _input.IsColumnActive(_binding.InputSchema[column.Index]) : _activeOutputs[column.Index - inputCount];
    }

    public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
    {
        int inputCount = _binding.InputSchema.Count;
        if (column.Index < inputCount)
        {
            return _input.GetGetter<TValue>(_binding.InputSchema[column.Index]);
        }

        int output = column.Index - inputCount;
        if (!_activeOutputs[output])
        {
            throw new InvalidOperationException($"Column '{column.Name}' is not active in this cursor; request it when creating the cursor.");
        }

        var spec = _binding.OutputColumns[output];
        Delegate getter = spec.Kind switch
        {
            StageOutputKind.Vector => (ValueGetter<VBuffer<float>>)GetVector,
            StageOutputKind.TokenId => (ValueGetter<uint>)((ref uint value) => { Compute(); value = _values.TokenId; }),
            _ => (ValueGetter<float>)((ref float value) => { Compute(); value = _values.Probability; }),
        };
        return getter as ValueGetter<TValue> ?? throw new InvalidOperationException(
            $"Column '{column.Name}' has type {spec.Type}; it cannot be read as {typeof(TValue).Name}.");
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _inputCursor is not null)
        {
            _inputCursor.Dispose();
        }

        base.Dispose(disposing);
    }

    private void GetVector(ref VBuffer<float> value)
    {
        Compute();
        var editor = VBufferEditor.Create(ref value, _values.Vector.Length);
        _values.Vector.AsSpan().CopyTo(editor.Values);
        value = editor.Commit();
    }

    private void Compute()
    {
        long position = _input.Position;
        if (position == _computedPosition)
        {
            return;
        }

        _inputGetter ??= _input.GetGetter<VBuffer<float>>(_binding.InputSchema[_binding.InputColumnIndex]);
        _rowKey ??= RowKeys.CreateReader(_input, _binding.StreamKeyColumnIndex is { } key ? _binding.InputSchema[key] : null);
        _inputGetter(ref _inputBuffer);
        _inputBuffer.CopyTo(_inputValues);
        if (_binding.HistoryColumnIndex is { } history)
        {
            _historyGetter ??= _input.GetGetter<VBuffer<float>>(_binding.InputSchema[history]);
            _historyGetter(ref _historyBuffer);
            float[] dense = new float[_historyBuffer.Length];
            _historyBuffer.CopyTo(dense);
            _binding.Stage.Compute(_inputValues, _rowKey(), dense, _values);
        }
        else
        {
            _binding.Stage.Compute(_inputValues, _rowKey(), _values);
        }
        _computedPosition = position;
        _binding.Stage.CountComputedRow();
    }
}
