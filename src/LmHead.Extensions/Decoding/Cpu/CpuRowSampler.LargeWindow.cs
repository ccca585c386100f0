namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>Top-p alone over a flat row: the nucleus found by bins (<see cref="NucleusCrossing"/>) instead of ranking thousands of entries.</summary>
internal sealed partial class CpuRowSampler
{
    /// <summary>Above this many entries near the maximum, top-p alone takes <see cref="TrySampleLargeWindow"/>.</summary>
    internal const int LargeWindowAbove = 4096;

    /// <summary>Whether top-p over a flat row takes the binned path (on by default; tests turn it off to compare).</summary>
    internal bool UseLargeWindow { get; set; } = true;

    /// <summary>How many rows took the binned path (for tests: they check the path they compare is the one taken).</summary>
    internal int LargeWindowRows { get; private set; }

    private double[] _binMass = [];
    private int[] _zone = [];
    private ulong[] _zoneKeys = [];
    private double[] _blockSums = [];

    /// <summary>
    /// Top-p alone (no min-p, no log-probabilities) over the <paramref name="collected"/> entries that
    /// <see cref="NucleusPass.NormaliserAndCollect"/> left in <see cref="_nearIds"/> and <see cref="_nearWeights"/> (in id
    /// order, float32 weights <c>exp(x · (1/T) − maxProcessed)</c>, normaliser <paramref name="rowTotal"/>).
    /// </summary>
    /// <remarks>
    /// The bins give the zone where the cumulative mass crosses p; its entries are ranked as the tensor stage ranks them
    /// (processed logit <c>(x − shift) / T</c> descending, lower id first) and walked with its rule (keep while the mass
    /// before a token is below p), starting from the mass of the bins above. The kept weights are then walked in id
    /// order, skipping blocks by their sums, with the target <c>u</c> times the kept mass, as <see cref="Walk"/> does for
    /// the whole row. Every mass is a sum of the same float32 weights, so a bias of the exponential cancels between the
    /// mass before a token and the normaliser. <see langword="false"/> (nothing changed but the scratch) when the
    /// crossing lies too far below the maximum for the collected entries.
    /// </remarks>
    private bool TrySampleLargeWindow(
        ReadOnlySpan<float> row, int collected, double rowTotal, float shift, ReadOnlySpan<RankedEntry> ranked, double u, out NextTokenResult? result)
    {
        result = null;
        float temperature = _plan.Temperature;
        var ids = _nearIds.AsSpan(0, collected);
        var weights = _nearWeights.AsSpan(0, collected);
        if (_binMass.Length < NucleusCrossing.BinCount)
        {
            _binMass = new double[NucleusCrossing.BinCount];
        }

        NucleusCrossing.Histogram(weights, _binMass);
        if (!NucleusCrossing.FindZone(_binMass, rowTotal, _plan.TopP, out int zoneLow, out int zoneHigh, out double cumulative))
        {
            return false;
        }

        // The zone ranked exactly: keys order by processed logit descending, then position (positions are in id order).
        int zoneCount = NucleusCrossing.CollectZone(weights, zoneLow, zoneHigh, ref _zone);
        if (_zoneKeys.Length < zoneCount)
        {
            _zoneKeys = new ulong[Math.Max(zoneCount, 2 * _zoneKeys.Length)];
        }

        var keys = _zoneKeys.AsSpan(0, zoneCount);
        for (int z = 0; z < zoneCount; z++)
        {
            int at = _zone[z];
            keys[z] = SurvivorFilter.RankKey((row[ids[at]] - shift) / temperature, at);
        }

        keys.Sort();
        double limit = (double)_plan.TopP * rowTotal;
        bool keeping = true;
        foreach (ulong key in keys)
        {
            int at = (int)(uint)key;
            if (keeping && cumulative < limit)
            {
                cumulative += weights[at];
            }
            else
            {
                keeping = false;
                weights[at] = 0f;
            }
        }

        // Members: the bins above the zone and the zone's kept entries (the dropped ones now weigh 0, in the last bin).
        int blocks = (collected + Block - 1) / Block;
        if (_blockSums.Length < blocks)
        {
            _blockSums = new double[blocks];
        }

        var blockSums = _blockSums.AsSpan(0, blocks);
        double total = NucleusCrossing.KeepThrough(weights, zoneHigh, blockSums);
        int chosen = Walk(weights, blockSums, u * total);
        var candidates = new TokenCandidate[ranked.Length];
        for (int c = 0; c < ranked.Length; c++)
        {
            var entry = ranked[c];
            int at = ids.BinarySearch(entry.Id);
            candidates[c] = at >= 0 && weights[at] > 0
                ? new TokenCandidate(entry.Id, entry.Raw, (entry.Raw - shift) / temperature, (float)(weights[at] / total))
                : new TokenCandidate(entry.Id, entry.Raw, float.NegativeInfinity, 0f);
        }

        result = new NextTokenResult(ids[chosen], (float)(weights[chosen] / total), candidates);
        LargeWindowRows++;
        return true;
    }
}
