namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>Top-k (with or without top-p / min-p on the survivors), greedy, and the row without any filter.</summary>
internal sealed partial class CpuRowSampler
{
    private NextTokenResult? SampleProcessed(ReadOnlySpan<float> row, int candidateCount, double u)
    {
        int n = row.Length;
        float temperature = _plan.Temperature;
        if (!_plan.IsGreedy && _plan.TopK >= n && _plan.FiltersSurvivors)
        {
            return SampleNucleus(row, candidateCount, u);
        }

        bool filter = !_plan.IsGreedy && _plan.TopK < n;
        int k = Math.Min(_plan.TopK, n);
        // With top-k, the candidates are usually the best raw values among the survivors: no second heap during the scan
        // (not with k of them: the last would be the root itself).
        bool derive = filter && candidateCount > 0 && candidateCount < k && DeriveCandidates;
        if (filter && (candidateCount == 0 || derive) && UseBuffer
            && TrySampleBuffered(row, temperature, candidateCount, u, out var buffered))
        {
            return buffered;
        }

        var keep = filter ? Heap(ref _keep, k) : null;
        var candidates = candidateCount > 0 && !derive ? Heap(ref _candidates, candidateCount) : null;

        // A floor estimated from a sample skips most heap offers; when it cannot be proved harmless, scan again without it.
        float floor = UseFloor ? RowScan.EstimateFloor(row, Math.Max(keep?.Capacity ?? 0, candidates?.Capacity ?? 0)) : float.NegativeInfinity;
        if (!RowScan.Run(row, keep, candidates, floor, out float max) || float.IsNegativeInfinity(max))
        {
            return null;
        }

        if (!float.IsNegativeInfinity(floor) && !RowScan.FloorWasSafe(keep, candidates, floor))
        {
            keep?.Clear();
            candidates?.Clear();
            RowScan.Run(row, keep, candidates, float.NegativeInfinity, out max);
        }

        ReadOnlySpan<RankedEntry> ranked;
        if (!derive)
        {
            ranked = Ranked(candidates);
        }
        else
        {
            ranked = CandidatesFromSurvivors(keep!.Items, candidateCount);
        }

        ranked = Reported(ranked);
        if (_plan.IsGreedy)
        {
            return Greedy(row, ranked, max);
        }

        // Tiny temperatures (or huge logits): the row is scaled as (x - max) / T, like TemperatureScaler.
        float shift = TemperatureScaler.ShiftFor(max, temperature);
        return filter
            ? SampleSurvivors(keep!.Items, sortedById: false, ranked, temperature, shift, u)
            : SampleAll(row, ranked, max, temperature, shift, u);
    }

    private NextTokenResult Greedy(ReadOnlySpan<float> row, ReadOnlySpan<RankedEntry> ranked, float max)
    {
        int argmax = RowScan.IndexOfFirst(row, max);
        var greedy = new TokenCandidate[ranked.Length];
        for (int c = 0; c < ranked.Length; c++)
        {
            var entry = ranked[c];
            greedy[c] = entry.Id == argmax
                ? new TokenCandidate(entry.Id, entry.Raw, row[argmax], 1f)
                : new TokenCandidate(entry.Id, entry.Raw, float.NegativeInfinity, 0f);
        }

        var result = new NextTokenResult(argmax, 1f, greedy);
        if (_request is { } request)
        {
            // Only the argmax is left: log 1 = 0 for it, and no other token can be produced.
            var chosen = new ScoredToken(argmax, 0, null);
            result.LogProbabilities = new LogProbabilityReport(chosen, request.Top > 0 ? [chosen] : []);
        }

        return result;
    }

    /// <summary>Whether top-k pipelines collect the survivors with <see cref="BufferedTopK"/> (on by default; tests turn it off to compare).</summary>
    internal bool UseBuffer { get; set; } = true;

    /// <summary>Whether top-k pipelines find the survivors from block maxima (<see cref="BlockTopK"/>; on by default; tests turn it off to compare).</summary>
    internal bool UseBlockMaxima { get; set; } = true;

    private float[] _blockMaxima = [];
    private RankedEntry[] _buffer = [];
    private float[] _bufferKeys = [];

    /// <summary>
    /// The top-k row through <see cref="BufferedTopK"/>. <see langword="false"/> when the heap scan must decide (too few
    /// values above the floor, or a floor that could have mattered); otherwise <paramref name="result"/> is the sample,
    /// or <see langword="null"/> for a row the tensor path must report (NaN, +infinity, all -infinity).
    /// </summary>
    private bool TrySampleBuffered(ReadOnlySpan<float> row, float temperature, int candidateCount, double u, out NextTokenResult? result)
    {
        result = null;
        int k = _plan.TopK;
        int capacity = Math.Max(2 * k, 64);
        if (_buffer.Length != capacity)
        {
            _buffer = new RankedEntry[capacity];
            _bufferKeys = new float[capacity];
        }

        if (UseBlockMaxima && BlockTopK.Serves(row.Length, k))
        {
            if (!BlockTopK.Run(row, k, ref _blockMaxima, _buffer, _bufferKeys, out int found, out float rowMax) || float.IsNegativeInfinity(rowMax))
            {
                return true;
            }

            if (found == k)
            {
                var kept = _buffer.AsSpan(0, k);
                var reported = Reported(candidateCount > 0 ? CandidatesFromSurvivors(kept, candidateCount) : []);
                result = SampleSurvivors(kept, sortedById: true, reported, temperature, TemperatureScaler.ShiftFor(rowMax, temperature), u);
                return true;
            }
        }

        float floor = UseFloor ? RowScan.EstimateFloor(row, k) : float.NegativeInfinity;
        if (!BufferedTopK.Run(row, k, floor, _buffer, _bufferKeys, out int count, out float max) || float.IsNegativeInfinity(max))
        {
            return true;
        }

        if (count < k)
        {
            return false;
        }

        var survivors = _buffer.AsSpan(0, k);
        float worst = float.PositiveInfinity;
        foreach (var entry in survivors)
        {
            worst = Math.Min(worst, entry.Key);
        }

        if (!float.IsNegativeInfinity(floor) && !(worst > floor))
        {
            return false;
        }

        var ranked = Reported(candidateCount > 0 ? CandidatesFromSurvivors(survivors, candidateCount) : []);
        result = SampleSurvivors(survivors, sortedById: true, ranked, temperature, TemperatureScaler.ShiftFor(max, temperature), u);
        return true;
    }

    /// <summary>Whether top-k pipelines take the candidates from the survivors (on by default; tests turn it off to compare).</summary>
    internal bool DeriveCandidates { get; set; } = true;

    /// <summary>
    /// The best <paramref name="count"/> survivors by raw logit (lower id on ties), best first: they are the row's best,
    /// since every token outside the top k ranks below every survivor (<paramref name="count"/> &lt; k).
    /// </summary>
    private ReadOnlySpan<RankedEntry> CandidatesFromSurvivors(ReadOnlySpan<RankedEntry> survivors, int count) => Best(survivors, count, ref _ranked);
}
