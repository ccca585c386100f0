using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// Temperature, top-k, top-p and min-p on the survivors, softmax over what is left and one inverse-CDF draw for one
/// float32 row, in managed code.
/// </summary>
/// <remarks>
/// It reproduces the tensor path (<see cref="TemperatureScaler"/>, <see cref="TopKFilter"/>, <see cref="SoftmaxNormalizer"/>,
/// <see cref="MultinomialSampler"/>, and <see cref="TopPFilter"/> then <see cref="MinPFilter"/> on the k survivors through
/// <see cref="SurvivorFilter"/>) rule for rule: exactly k survivors with ties at the k-th value going to the lower ids;
/// scaled logits computed as <c>(x − shift) / T</c> in float32, with the shift of <see cref="TemperatureScaler.ShiftFor"/>
/// (0 unless T is tiny for the row); one uniform <c>u</c> per row; the chosen token is the first, in
/// token-id order, whose cumulative weight exceeds <c>u · total</c> (the last positive one if rounding leaves none).
/// With top-k, the k weights <c>exp(s − max)</c> are computed and summed in float64. With top-k off (k ≥ V) there is
/// no sort and no heap: one pass for the maximum, one vectorised exp pass (<see cref="FastExp"/>, float32, summed per
/// block of <see cref="Block"/> tokens) and a CDF walk that skips whole blocks by their sums. The tensor path
/// normalises in float32 over all V entries, so both paths choose the same token except when <c>u · total</c> falls
/// within rounding error of a cumulative boundary (the agreement tests allow one such row in 300).
/// Instances hold scratch buffers and are not thread-safe; use one per thread.
/// </remarks>
internal sealed class CpuRowSampler
{
    private readonly CpuSamplingPlan _plan;
    private readonly int _candidateCount;
    private readonly LogitPatch _patch = new();

    // Scratch reused across rows (the sampler is not thread-safe): the two heaps and the survivors sorted by id.
    private BoundedMinHeap? _keep;
    private BoundedMinHeap? _candidates;
    private BoundedMinHeap? _top;
    private RankedEntry[] _survivors = [];
    private RankedEntry[] _ranked = [];
    private RankedEntry[] _best = [];
    private RankedEntry[] _rawRanked = [];
    private RankedEntry[] _window = [];
    private float[] _processed = [];
    private float[] _patched = [];
    private double[] _weights = [];
    private RankedEntry[] _byProbability = [];

    // Per call: the candidates ranked on the raw row when the bias or a penalty changed it, and what to report.
    private int _rawRankedCount = -1;
    private LogProbabilityRequest? _request;

    /// <summary>Creates a sampler for a plan; <paramref name="candidateCount"/> candidates are reported per row.</summary>
    public CpuRowSampler(CpuSamplingPlan plan, int candidateCount)
    {
        _plan = plan;
        _candidateCount = candidateCount;
    }

    /// <summary>Chooses a token for <paramref name="row"/> with the uniform <paramref name="u"/> (ignored when greedy).</summary>
    /// <param name="row">The raw logits.</param>
    /// <param name="u">The row's uniform draw.</param>
    /// <param name="history">The tokens seen so far, for the penalties; <see langword="null"/> means none.</param>
    /// <param name="logProbabilities">What to report in <see cref="NextTokenResult.LogProbabilities"/>, or <see langword="null"/> for nothing.</param>
    /// <returns>The result, or <see langword="null"/> when the row is invalid (NaN, +infinity, all -infinity, or a bias or history token outside it) and the tensor path must report it.</returns>
    public NextTokenResult? Sample(ReadOnlySpan<float> row, double u, TokenHistory? history = null, LogProbabilityRequest? logProbabilities = null)
    {
        _request = logProbabilities is { Top: > 0 } or { IncludeRaw: true } ? logProbabilities : logProbabilities is null ? null : new(0, false);
        _rawRankedCount = -1;
        var raw = row;
        int candidateCount = Math.Min(_candidateCount, row.Length);
        if (_plan.ChangesLogits)
        {
            if (!_patch.TryCompute(_plan, row, history ?? TokenHistory.Empty))
            {
                return null;
            }

            if (_patch.Count > 0)
            {
                if (TrySampleOverlaid(row, candidateCount, u, out var overlaid))
                {
                    return Finish(overlaid, raw);
                }

                // Candidates rank the raw logits (before any stage); everything else runs on a patched copy.
                if (!RankRaw(row, candidateCount))
                {
                    return null;
                }

                if (_patched.Length < row.Length)
                {
                    _patched = new float[row.Length];
                }

                _patch.WriteTo(row, _patched);
                candidateCount = 0;
                row = _patched.AsSpan(0, row.Length);
            }
        }

        return Finish(SampleProcessed(row, candidateCount, u), raw);
    }

    private NextTokenResult? Finish(NextTokenResult? result, ReadOnlySpan<float> raw)
    {
        if (result?.LogProbabilities is { } report && _request is { IncludeRaw: true })
        {
            result.LogProbabilities = WithRaw(report, raw);
        }

        return result;
    }

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

    /// <summary>The best raw logits into <see cref="_rawRanked"/> (false when the raw row holds NaN or +infinity).</summary>
    private bool RankRaw(ReadOnlySpan<float> row, int candidateCount)
    {
        var heap = candidateCount > 0 ? Heap(ref _candidates, candidateCount) : null;
        if (!RowScan.Run(row, null, heap, float.NegativeInfinity, out _))
        {
            return false;
        }

        var ranked = Ranked(heap);
        if (_rawRanked.Length < ranked.Length)
        {
            _rawRanked = new RankedEntry[ranked.Length];
        }

        ranked.CopyTo(_rawRanked);
        _rawRankedCount = ranked.Length;
        return true;
    }

    /// <summary>The candidates to report: the raw-row ranking when the row was patched, else those the scan found.</summary>
    private ReadOnlySpan<RankedEntry> Reported(ReadOnlySpan<RankedEntry> found) =>
        _rawRankedCount >= 0 ? _rawRanked.AsSpan(0, _rawRankedCount) : found;

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

    /// <summary>
    /// Top-p and/or min-p with no top-k (<see cref="NucleusWindow"/>): the maximum (and the candidates) in one pass, the
    /// softmax normaliser of the whole row for top-p in a second, the entries of the window in a third, and then the
    /// survivors' rules on those entries only.
    /// </summary>
    private NextTokenResult? SampleNucleus(ReadOnlySpan<float> row, int candidateCount, double u)
    {
        var candidates = candidateCount > 0 ? Heap(ref _candidates, candidateCount) : null;
        float floor = UseFloor && candidates is not null ? RowScan.EstimateFloor(row, candidateCount) : float.NegativeInfinity;
        if (!RowScan.Run(row, null, candidates, floor, out float max) || float.IsNegativeInfinity(max))
        {
            return null;
        }

        if (!float.IsNegativeInfinity(floor) && !RowScan.FloorWasSafe(null, candidates, floor))
        {
            candidates!.Clear();
            RowScan.Run(row, null, candidates, float.NegativeInfinity, out max);
        }

        var ranked = Reported(Ranked(candidates));
        float temperature = _plan.Temperature;
        float shift = TemperatureScaler.ShiftFor(max, temperature);
        float maxProcessed = (max - shift) / temperature;
        bool topP = _plan.TopP < 1f;
        // The normaliser, and the mass within each of the NucleusWindow.Widths: the narrowest that holds p (with room) is tried first.
        Span<double> levels = stackalloc double[NucleusWindow.Widths.Length];
        double rowTotal = topP ? NucleusWindow.Normaliser(row, temperature, shift, maxProcessed, levels) : 0;
        double width = topP ? NucleusWindow.FirstWidth(levels, rowTotal, _plan.TopP) : NucleusWindow.MinPWidth(_plan.MinP);
        for (int attempt = 0; ; attempt++, width *= 4)
        {
            float threshold = topP && attempt > NucleusWindow.Widenings ? float.NegativeInfinity
                : (float)(((double)maxProcessed - width) * temperature + shift);
            float processedThreshold = (threshold - shift) / temperature;
            if (!(processedThreshold < maxProcessed))
            {
                // Rounding left no room below the maximum (huge logits): take the whole row.
                threshold = processedThreshold = float.NegativeInfinity;
            }

            int count = NucleusWindow.Collect(row, threshold, ref _window);
            int kept = 0;
            double mass = 0;
            for (int e = 0; e < count; e++)
            {
                var entry = _window[e];
                float processed = (entry.Raw - shift) / temperature;
                if (processed > processedThreshold)
                {
                    _window[kept++] = entry;
                    mass += topP ? Math.Exp((double)processed - maxProcessed) : 0;
                }
            }

            // The top-p crossing lies inside the window when the window's mass reaches p (with room for rounding).
            if (!topP || float.IsNegativeInfinity(threshold) || mass >= (_plan.TopP + 1e-9) * rowTotal)
            {
                return SampleSurvivors(_window.AsSpan(0, kept), sortedById: true, ranked, temperature, shift, u, rowTotal);
            }
        }
    }

    /// <summary>Whether top-k pipelines collect the survivors with <see cref="BufferedTopK"/> (on by default; tests turn it off to compare).</summary>
    internal bool UseBuffer { get; set; } = true;

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

    /// <summary>The best <paramref name="count"/> entries by key (lower id on ties), best first, into <paramref name="scratch"/>.</summary>
    private static ReadOnlySpan<RankedEntry> Best(ReadOnlySpan<RankedEntry> entries, int count, ref RankedEntry[] scratch)
    {
        if (count == 0)
        {
            return [];
        }

        if (scratch.Length < count)
        {
            scratch = new RankedEntry[count];
        }

        var top = scratch.AsSpan(0, count);
        int filled = 0;
        foreach (var entry in entries)
        {
            int at;
            if (filled < count)
            {
                at = filled++;
            }
            else if (RanksAbove(entry, top[count - 1]))
            {
                at = count - 1;
            }
            else
            {
                continue;
            }

            while (at > 0 && RanksAbove(entry, top[at - 1]))
            {
                top[at] = top[at - 1];
                at--;
            }

            top[at] = entry;
        }

        return top[..filled];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool RanksAbove(RankedEntry a, RankedEntry b) => a.Key > b.Key || (a.Key == b.Key && a.Id < b.Id);

    /// <summary>Whether the scan may skip values below a sampled floor (on by default; tests turn it off to compare).</summary>
    internal bool UseFloor { get; set; } = true;

    private static BoundedMinHeap Heap(ref BoundedMinHeap? heap, int capacity)
    {
        if (heap is null || heap.Capacity != capacity)
        {
            heap = new BoundedMinHeap(capacity);
        }

        heap.Clear();
        return heap;
    }

    /// <summary>
    /// Samples among <paramref name="kept"/> after top-p and min-p; <paramref name="rowTotal"/> is the softmax normaliser
    /// of the whole row when the kept entries are only a window of it (top-p without top-k), else 0.
    /// </summary>
    private NextTokenResult SampleSurvivors(
        ReadOnlySpan<RankedEntry> kept, bool sortedById, ReadOnlySpan<RankedEntry> ranked, float temperature, float shift, double u, double rowTotal = 0)
    {
        int count = kept.Length;
        if (_survivors.Length < count)
        {
            _survivors = new RankedEntry[count];
            _processed = new float[count];
            _weights = new double[count];
        }

        var survivors = _survivors.AsSpan(0, count);
        kept.CopyTo(survivors);
        if (!sortedById)
        {
            survivors.Sort(default(IdOrder));
        }

        var processed = _processed.AsSpan(0, count);
        var weights = _weights.AsSpan(0, count);
        float maxProcessed = float.NegativeInfinity;
        for (int s = 0; s < count; s++)
        {
            processed[s] = (survivors[s].Raw - shift) / temperature;
            maxProcessed = Math.Max(maxProcessed, processed[s]);
        }

        double total = 0;
        for (int s = 0; s < count; s++)
        {
            weights[s] = Math.Exp((double)processed[s] - maxProcessed);
            total += weights[s];
        }

        if (_plan.FiltersSurvivors)
        {
            if (_byProbability.Length < count)
            {
                _byProbability = new RankedEntry[count];
            }

            total = SurvivorFilter.Apply(processed, weights, rowTotal > 0 ? rowTotal : total, _plan.TopP, _plan.MinP, _byProbability);
        }

        double target = u * total;
        double cumulative = 0;
        int chosen = -1, lastPositive = 0;
        for (int s = 0; s < count; s++)
        {
            if (weights[s] > 0)
            {
                lastPositive = s;
            }

            cumulative += weights[s];
            if (cumulative > target)
            {
                chosen = s;
                break;
            }
        }

        if (chosen < 0)
        {
            chosen = lastPositive;
        }

        var result = new TokenCandidate[ranked.Length];
        for (int c = 0; c < ranked.Length; c++)
        {
            var entry = ranked[c];
            int at = IndexOfId(survivors, entry.Id);
            result[c] = at >= 0
                ? new TokenCandidate(entry.Id, entry.Raw, processed[at], (float)(weights[at] / total))
                : new TokenCandidate(entry.Id, entry.Raw, float.NegativeInfinity, 0f);
        }

        var next = new NextTokenResult(survivors[chosen].Id, (float)(weights[chosen] / total), result);
        if (_request is { } request)
        {
            // log softmax of what is left: s − max − ln Σ exp(s − max); the maximum always survives the filters.
            double logTotal = maxProcessed + Math.Log(total);
            for (int s = 0; s < count; s++)
            {
                survivors[s] = new RankedEntry(processed[s], survivors[s].Raw, survivors[s].Id);
            }

            var top = Best(survivors, Math.Min(request.Top, count), ref _best);
            var scored = new List<ScoredToken>(top.Length);
            foreach (var entry in top)
            {
                if (!float.IsNegativeInfinity(entry.Key))
                {
                    scored.Add(new ScoredToken(entry.Id, entry.Key - logTotal, null));
                }
            }

            next.LogProbabilities = new LogProbabilityReport(new ScoredToken(next.TokenId, processed[chosen] - logTotal, null), scored);
        }

        return next;
    }

    /// <summary>The position of <paramref name="id"/> in entries sorted by id, or -1.</summary>
    private static int IndexOfId(ReadOnlySpan<RankedEntry> byId, int id)
    {
        int low = 0, high = byId.Length - 1;
        while (low <= high)
        {
            int middle = (low + high) >>> 1;
            int found = byId[middle].Id;
            if (found == id)
            {
                return middle;
            }

            if (found < id)
            {
                low = middle + 1;
            }
            else
            {
                high = middle - 1;
            }
        }

        return -1;
    }

    private NextTokenResult SampleAll(ReadOnlySpan<float> row, ReadOnlySpan<RankedEntry> ranked, float max, float temperature, float shift, double u)
    {
        int n = row.Length;
        float maxProcessed = (max - shift) / temperature;
        float[] rented = ArrayPool<float>.Shared.Rent(n);
        double[] blockSums = ArrayPool<double>.Shared.Rent((n + Block - 1) / Block);
        try
        {
            var weights = rented.AsSpan(0, n);
            // x · (1/T) − max/T is exact enough while |max / T| <= ShiftLimit and 1/T is finite (every usual row); past
            // that, (x − shift) / T − maxProcessed as the tensor path computes it, so nothing becomes inf − inf or 0 · inf.
            double total = UsesInverse(temperature, shift, maxProcessed)
                ? Exponentials(row, weights, blockSums, temperature, maxProcessed)
                : ShiftedExponentials(row, weights, blockSums, temperature, shift, maxProcessed);
            int chosen = Walk(weights, blockSums, u * total);
            float chosenWeight = weights[chosen];
            var result = new TokenCandidate[ranked.Length];
            for (int c = 0; c < ranked.Length; c++)
            {
                var entry = ranked[c];
                result[c] = new TokenCandidate(entry.Id, entry.Raw, (row[entry.Id] - shift) / temperature, (float)(rented[entry.Id] / total));
            }

            var next = new NextTokenResult(chosen, (float)(chosenWeight / total), result);
            if (_request is { } request)
            {
                // Every token is possible: the best by processed logit are the best of the row (one more pass, only when asked).
                double logTotal = maxProcessed + Math.Log(total);
                var heap = request.Top > 0 ? Heap(ref _top, Math.Min(request.Top, n)) : null;
                RowScan.Run(row, null, heap, float.NegativeInfinity, out _);
                var scored = new List<ScoredToken>();
                foreach (var entry in Ranked(heap))
                {
                    scored.Add(new ScoredToken(entry.Id, (entry.Raw - shift) / temperature - logTotal, null));
                }

                next.LogProbabilities = new LogProbabilityReport(new ScoredToken(chosen, (row[chosen] - shift) / temperature - logTotal, null), scored);
            }

            return next;
        }
        finally
        {
            ArrayPool<double>.Shared.Return(blockSums);
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <summary>Whether the weights can be computed as <c>x · (1/T) − maxProcessed</c> (see <see cref="Exponentials"/>).</summary>
    internal static bool UsesInverse(float temperature, float shift, float maxProcessed) =>
        shift == 0f && float.IsFinite(1f / temperature) && Math.Abs(maxProcessed) <= TemperatureScaler.ShiftLimit;

    /// <summary>Adds the raw log-probabilities (log softmax of the raw row) to a report.</summary>
    private static LogProbabilityReport WithRaw(LogProbabilityReport report, ReadOnlySpan<float> raw)
    {
        RowScan.Run(raw, null, null, float.NegativeInfinity, out float max);
        float shift = TemperatureScaler.ShiftFor(max, 1f);
        double logSum = Math.Log(NucleusWindow.Normaliser(raw, 1f, shift, max - shift, []));
        var top = new ScoredToken[report.Top.Count];
        for (int t = 0; t < top.Length; t++)
        {
            top[t] = report.Top[t] with { RawLogProbability = (double)raw[report.Top[t].TokenId] - max - logSum };
        }

        return new LogProbabilityReport(report.Chosen with { RawLogProbability = (double)raw[report.Chosen.TokenId] - max - logSum }, top);
    }

    /// <summary>Weights are summed in blocks of this many tokens; the walk skips whole blocks by their sums.</summary>
    internal const int Block = 64;

    /// <summary>
    /// Writes <c>exp(x / T − maxProcessed)</c> for every entry (computed as <c>x · (1/T) − maxProcessed</c> in one fused
    /// multiply-add, which differs from the division by at most an ulp of the scaled logit), stores the sum of each
    /// block of <see cref="Block"/> weights and returns the float64 total of those sums.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static double Exponentials(ReadOnlySpan<float> row, Span<float> weights, Span<double> blockSums, float temperature, float maxProcessed)
    {
        int n = row.Length;
        double total = 0;
        ref float source = ref MemoryMarshal.GetReference(row);
        ref float target = ref MemoryMarshal.GetReference(weights);
        var inverse = Vector256.Create(1f / temperature);
        var shift = Vector256.Create(-maxProcessed);
        for (int block = 0, start = 0; start < n; block++, start += Block)
        {
            double sum;
            if (Vector256.IsHardwareAccelerated && start + Block <= n)
            {
                var acc0 = Vector256<float>.Zero;
                var acc1 = Vector256<float>.Zero;
                for (int i = start; i < start + Block; i += 16)
                {
                    var e0 = FastExp.Exp(Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref source, (nuint)i), inverse, shift));
                    var e1 = FastExp.Exp(Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref source, (nuint)(i + 8)), inverse, shift));
                    e0.StoreUnsafe(ref target, (nuint)i);
                    e1.StoreUnsafe(ref target, (nuint)(i + 8));
                    acc0 += e0;
                    acc1 += e1;
                }

                sum = Vector256.Sum(acc0 + acc1);
            }
            else
            {
                sum = 0;
                for (int i = start; i < Math.Min(n, start + Block); i++)
                {
                    float e = FastExp.Exp(Vector256.Create(row[i] * (1f / temperature) - maxProcessed)).ToScalar();
                    weights[i] = e;
                    sum += e;
                }
            }

            blockSums[block] = sum;
            total += sum;
        }

        return total;
    }

    /// <summary>
    /// <see cref="Exponentials"/> for the rows it cannot take (tiny temperatures): <c>exp((x − shift) / T − maxProcessed)</c>
    /// with a true division, as <see cref="TemperatureScaler"/> and the softmax compute it, so <c>1/T</c> may overflow and
    /// the maximum's own weight is exactly 1. Off the common path: it runs only for rows past <see cref="TemperatureScaler.ShiftLimit"/>.
    /// </summary>
    internal static double ShiftedExponentials(ReadOnlySpan<float> row, Span<float> weights, Span<double> blockSums, float temperature, float shift, float maxProcessed)
    {
        int n = row.Length;
        double total = 0;
        for (int block = 0, start = 0; start < n; block++, start += Block)
        {
            double sum = 0;
            for (int i = start; i < Math.Min(n, start + Block); i++)
            {
                float e = FastExp.Exp(Vector256.Create((row[i] - shift) / temperature - maxProcessed)).ToScalar();
                weights[i] = e;
                sum += e;
            }

            blockSums[block] = sum;
            total += sum;
        }

        return total;
    }

    /// <summary>The first index whose cumulative weight exceeds <paramref name="target"/>, or the last positive one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static int Walk(ReadOnlySpan<float> weights, ReadOnlySpan<double> blockSums, double target)
    {
        int n = weights.Length;
        double cumulative = 0;
        for (int block = 0, start = 0; start < n; block++, start += Block)
        {
            if (cumulative + blockSums[block] <= target)
            {
                cumulative += blockSums[block];
                continue;
            }

            // The target falls in this block (up to the rounding of the block sum): walk it token by token.
            for (int i = start; i < Math.Min(n, start + Block); i++)
            {
                cumulative += weights[i];
                if (cumulative > target)
                {
                    return i;
                }
            }
        }

        for (int j = n - 1; j >= 0; j--)
        {
            if (weights[j] > 0)
            {
                return j;
            }
        }

        return n - 1;
    }

    /// <summary>The candidate heap's entries sorted best first (highest raw logit, lower id on ties), in the heap's own storage.</summary>
    private static ReadOnlySpan<RankedEntry> Ranked(BoundedMinHeap? heap)
    {
        if (heap is null)
        {
            return [];
        }

        var entries = heap.SortInPlace();
        return entries;
    }

    private readonly struct IdOrder : IComparer<RankedEntry>
    {
        public int Compare(RankedEntry x, RankedEntry y) => x.Id.CompareTo(y.Id);
    }
}
