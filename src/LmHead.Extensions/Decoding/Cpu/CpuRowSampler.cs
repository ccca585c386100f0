using System.Runtime.CompilerServices;

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
internal sealed partial class CpuRowSampler
{
    private readonly CpuSamplingPlan _plan;
    private readonly int _candidateCount;
    private readonly LogitPatch _patch = new();

    // Scratch reused across rows (the sampler is not thread-safe): the two heaps and the survivors sorted by id.
    private BoundedMinHeap? _keep;
    private BoundedMinHeap? _candidates;
    private BoundedMinHeap? _top;
    private RankedEntry[] _survivors = [];
    private int[] _survivorIds = [];
    private RankedEntry[] _ranked = [];
    private RankedEntry[] _best = [];
    private RankedEntry[] _rawRanked = [];
    private RankedEntry[] _window = [];
    private int[] _nearIds = [];
    private float[] _nearWeights = [];
    private float[] _processed = [];
    private float[] _patched = [];
    private double[] _weights = [];
    private ulong[] _byProbability = [];
    private float[] _widened = [];

    // Per call: the candidates ranked on the raw row when the bias or a penalty changed it, and what to report.
    private int _rawRankedCount = -1;
    private LogProbabilityRequest? _request;

    /// <summary>
    /// A float32 row of <paramref name="length"/> values that this sampler keeps for its callers' copies of a row (half
    /// precision widened, or a row to mask: <see cref="CpuBatchSampler.RowInBuffer"/>): the same memory call after call,
    /// so it stays in cache, where a buffer rented per call need not. Never read by the sampler itself.
    /// </summary>
    internal Span<float> RowBuffer(int length)
    {
        if (_widened.Length < length)
        {
            _widened = new float[length];
        }

        return _widened.AsSpan(0, length);
    }

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
}
