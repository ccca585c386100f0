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

    // Scratch reused across rows (the sampler is not thread-safe): the two heaps and the survivors sorted by id.
    private BoundedMinHeap? _keep;
    private BoundedMinHeap? _candidates;
    private RankedEntry[] _survivors = [];
    private RankedEntry[] _ranked = [];
    private float[] _processed = [];
    private double[] _weights = [];
    private RankedEntry[] _byProbability = [];

    /// <summary>Creates a sampler for a plan; <paramref name="candidateCount"/> candidates are reported per row.</summary>
    public CpuRowSampler(CpuSamplingPlan plan, int candidateCount)
    {
        _plan = plan;
        _candidateCount = candidateCount;
    }

    /// <summary>Chooses a token for <paramref name="row"/> with the uniform <paramref name="u"/> (ignored when greedy).</summary>
    /// <returns>The result, or <see langword="null"/> when the row is invalid (NaN, +infinity, or all -infinity) and the tensor path must report it.</returns>
    public NextTokenResult? Sample(ReadOnlySpan<float> row, double u)
    {
        int n = row.Length;
        float temperature = _plan.Temperature;
        // Top-p and min-p need the survivors even when top-k keeps the whole row (k ≥ V): then all V are kept.
        bool filter = !_plan.IsGreedy && (_plan.TopK < n || _plan.FiltersSurvivors);
        int k = Math.Min(_plan.TopK, n);
        int candidateCount = Math.Min(_candidateCount, n);
        // With top-k, the candidates are usually the best raw values among the survivors: no second heap during the scan
        // (not with k of them: the last would be the root itself, so the check below would fail for scaled keys).
        bool derive = filter && candidateCount > 0 && candidateCount < k && DeriveCandidates;
        bool scaleKeys = _plan.ScaleBeforeTopK;
        if (filter && _plan.TopK < n && (candidateCount == 0 || derive) && UseBuffer
            && TrySampleBuffered(row, temperature, scaleKeys, candidateCount, u, out var buffered))
        {
            return buffered;
        }

        var keep = filter ? Heap(ref _keep, k) : null;
        var candidates = candidateCount > 0 && !derive ? Heap(ref _candidates, candidateCount) : null;

        // A floor estimated from a sample skips most heap offers; when it cannot be proved harmless, scan again without it.
        float floor = UseFloor ? RowScan.EstimateFloor(row, Math.Max(keep?.Capacity ?? 0, candidates?.Capacity ?? 0)) : float.NegativeInfinity;
        if (!RowScan.Run(row, keep, candidates, temperature, scaleKeys, floor, out float max) || float.IsNegativeInfinity(max))
        {
            return null;
        }

        // Tiny temperatures (or huge logits): the row is scaled as (x - max) / T, like TemperatureScaler; scaled keys follow.
        float shift = _plan.IsGreedy ? 0f : TemperatureScaler.ShiftFor(max, temperature);
        if ((!float.IsNegativeInfinity(floor) && !RowScan.FloorWasSafe(keep, candidates, temperature, scaleKeys, floor))
            || (shift != 0f && scaleKeys && keep is not null))
        {
            keep?.Clear();
            candidates?.Clear();
            RowScan.Run(row, keep, candidates, temperature, scaleKeys, float.NegativeInfinity, out max, shift);
        }

        ReadOnlySpan<RankedEntry> ranked;
        if (!derive)
        {
            ranked = Ranked(candidates);
        }
        else if (!TryDeriveCandidates(keep!.Items, keep.Root.Key, candidateCount, scaleKeys, out ranked))
        {
            // A tie at the k-th key among the best raw values: let a candidate heap decide, exactly as without deriving.
            keep!.Clear();
            candidates = Heap(ref _candidates, candidateCount);
            RowScan.Run(row, keep, candidates, temperature, scaleKeys, float.NegativeInfinity, out max, shift);
            ranked = Ranked(candidates);
        }

        if (_plan.IsGreedy)
        {
            int argmax = RowScan.IndexOfFirst(row, max);
            var greedy = new TokenCandidate[ranked.Length];
            for (int c = 0; c < ranked.Length; c++)
            {
                var entry = ranked[c];
                greedy[c] = entry.Id == argmax
                    ? new TokenCandidate(entry.Id, entry.Raw, entry.Raw, 1f)
                    : new TokenCandidate(entry.Id, entry.Raw, float.NegativeInfinity, 0f);
            }

            return new NextTokenResult(argmax, 1f, greedy);
        }

        return filter
            ? SampleSurvivors(keep!.Items, sortedById: false, ranked, temperature, shift, u)
            : SampleAll(row, ranked, max, temperature, shift, u);
    }

    /// <summary>Whether top-k pipelines collect the survivors with <see cref="BufferedTopK"/> (on by default; tests turn it off to compare).</summary>
    internal bool UseBuffer { get; set; } = true;

    private RankedEntry[] _buffer = [];
    private float[] _bufferKeys = [];

    /// <summary>
    /// The top-k row through <see cref="BufferedTopK"/>. <see langword="false"/> when the heap scan must decide (too few
    /// values above the floor, a floor that could have mattered, or candidates tied at the k-th key); otherwise
    /// <paramref name="result"/> is the sample, or <see langword="null"/> for a row the tensor path must report (NaN,
    /// +infinity, all -infinity).
    /// </summary>
    private bool TrySampleBuffered(ReadOnlySpan<float> row, float temperature, bool scaleKeys, int candidateCount, double u, out NextTokenResult? result)
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
        if (!BufferedTopK.Run(row, k, temperature, scaleKeys, floor, _buffer, _bufferKeys, out int count, out float max) || float.IsNegativeInfinity(max))
        {
            return true;
        }

        if (count < k)
        {
            return false;
        }

        var survivors = _buffer.AsSpan(0, k);
        float worstKey = float.PositiveInfinity;
        foreach (var entry in survivors)
        {
            worstKey = Math.Min(worstKey, entry.Key);
        }

        if (!float.IsNegativeInfinity(floor) && !(worstKey > (scaleKeys ? floor / temperature : floor)))
        {
            return false;
        }

        // A row scaled as (x - max) / T (tiny temperatures) ranks by other keys: the heap scan computes them.
        if (TemperatureScaler.ShiftFor(max, temperature) != 0f)
        {
            return false;
        }

        ReadOnlySpan<RankedEntry> ranked = [];
        if (candidateCount > 0 && !TryDeriveCandidates(survivors, worstKey, candidateCount, scaleKeys, out ranked))
        {
            return false;
        }

        result = SampleSurvivors(survivors, sortedById: true, ranked, temperature, 0f, u);
        return true;
    }

    /// <summary>Whether top-k pipelines take the candidates from the survivors (on by default; tests turn it off to compare).</summary>
    internal bool DeriveCandidates { get; set; } = true;

    /// <summary>
    /// The best <paramref name="count"/> survivors by raw logit (lower id on ties), best first. They are the row's best
    /// when the last of them has a key above the heap root's: every token outside the heap has a key at most the
    /// root's, so a lower raw value than that last one (for unscaled keys, where key = raw, ties also rank alike).
    /// </summary>
    private bool TryDeriveCandidates(ReadOnlySpan<RankedEntry> survivors, float worstKey, int count, bool scaleKeys, out ReadOnlySpan<RankedEntry> ranked)
    {
        if (_ranked.Length < count)
        {
            _ranked = new RankedEntry[count];
        }

        var top = _ranked.AsSpan(0, count);
        int filled = 0;
        foreach (var entry in survivors)
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

        ranked = top[..filled];
        return filled == count && (!scaleKeys || top[count - 1].Key > worstKey);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool RanksAbove(RankedEntry a, RankedEntry b) => a.Raw > b.Raw || (a.Raw == b.Raw && a.Id < b.Id);

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

    private NextTokenResult SampleSurvivors(ReadOnlySpan<RankedEntry> kept, bool sortedById, ReadOnlySpan<RankedEntry> ranked, float temperature, float shift, double u)
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

            total = SurvivorFilter.Apply(processed, weights, total, _plan.TopP, _plan.MinP, _byProbability);
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

        return new NextTokenResult(survivors[chosen].Id, (float)(weights[chosen] / total), result);
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

    private static NextTokenResult SampleAll(ReadOnlySpan<float> row, ReadOnlySpan<RankedEntry> ranked, float max, float temperature, float shift, double u)
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
            double total = shift == 0f && float.IsFinite(1f / temperature) && Math.Abs(maxProcessed) <= TemperatureScaler.ShiftLimit
                ? Exponentials(row, weights, blockSums, temperature, maxProcessed)
                : ShiftedExponentials(row, weights, blockSums, temperature, shift, maxProcessed);
            int chosen = Walk(weights, blockSums, u * total);
            float chosenWeight = weights[chosen];
            var result = new TokenCandidate[ranked.Length];
            for (int c = 0; c < ranked.Length; c++)
            {
                var entry = ranked[c];
                result[c] = new TokenCandidate(entry.Id, entry.Raw, (entry.Raw - shift) / temperature, (float)(rented[entry.Id] / total));
            }

            return new NextTokenResult(chosen, (float)(chosenWeight / total), result);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(blockSums);
            ArrayPool<float>.Shared.Return(rented);
        }
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
