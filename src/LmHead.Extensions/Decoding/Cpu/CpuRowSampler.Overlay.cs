namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>Top-k with a logit bias or penalties, on the raw row overlaid with the touched values (no copy of the row).</summary>
internal sealed partial class CpuRowSampler
{
    /// <summary>
    /// Top-k with a bias or penalties, without copying the row: an untouched token keeps its raw logit, so the best k
    /// of the processed row lie among the best <c>k + t</c> raw entries (t touched ids) and the touched ids themselves.
    /// The buffered scan collects those raw entries (and the raw candidates with them), the touched values replace
    /// theirs and the best k of that small set survive. <see langword="false"/> when the copy path must decide.
    /// </summary>
    private bool TrySampleOverlaid(ReadOnlySpan<float> row, int candidateCount, double u, out NextTokenResult? result)
    {
        result = null;
        int k = _plan.TopK;
        int wide = k + _patch.Count;
        if (_plan.IsGreedy || !UseBuffer || wide >= row.Length || candidateCount > wide)
        {
            return false;
        }

        int capacity = Math.Max(2 * wide, 64);
        if (_buffer.Length < capacity)
        {
            _buffer = new RankedEntry[capacity];
            _bufferKeys = new float[capacity];
        }

        float floor = UseFloor ? RowScan.EstimateFloor(row, wide) : float.NegativeInfinity;
        if (!BufferedTopK.Run(row, wide, floor, _buffer, _bufferKeys, out int count, out float max) || float.IsNegativeInfinity(max))
        {
            return true;
        }

        var best = _buffer.AsSpan(0, count);
        float worst = float.PositiveInfinity;
        foreach (var entry in best)
        {
            worst = Math.Min(worst, entry.Key);
        }

        if (count < wide || (!float.IsNegativeInfinity(floor) && !(worst > floor)))
        {
            return false;
        }

        var reported = Best(best, candidateCount, ref _rawRanked);
        _rawRankedCount = reported.Length;

        // The processed values of the collected entries and of every touched id (once each).
        if (_overlay.Length < wide + _patch.Count)
        {
            _overlay = new RankedEntry[wide + _patch.Count];
        }

        int filled = 0;
        foreach (var entry in best)
        {
            float value = _patch.TryGetValue(entry.Id, out float patched) ? patched : entry.Raw;
            _overlay[filled++] = new RankedEntry(value, value, entry.Id);
        }

        foreach (var (id, value) in _patch.Values)
        {
            if (!float.IsFinite(value) && !float.IsNegativeInfinity(value))
            {
                result = null;
                return true;
            }

            if (row[id] < worst || !Contains(best, id))
            {
                _overlay[filled++] = new RankedEntry(value, value, id);
            }
        }

        var survivors = Best(_overlay.AsSpan(0, filled), k, ref _best);
        float shift = TemperatureScaler.ShiftFor(survivors[0].Key, _plan.Temperature);
        result = SampleSurvivors(survivors, sortedById: false, Reported([]), _plan.Temperature, shift, u);
        return true;
    }

    private static bool Contains(ReadOnlySpan<RankedEntry> entries, int id)
    {
        foreach (var entry in entries)
        {
            if (entry.Id == id)
            {
                return true;
            }
        }

        return false;
    }

    private RankedEntry[] _overlay = [];
}
