using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// Temperature, top-k, softmax over the survivors and one inverse-CDF draw for one float32 row, in managed code.
/// </summary>
/// <remarks>
/// It reproduces the tensor path (<see cref="TemperatureScaler"/>, <see cref="TopKFilter"/>, <see cref="SoftmaxNormalizer"/>,
/// <see cref="MultinomialSampler"/>) rule for rule: exactly k survivors with ties at the k-th value going to the lower ids;
/// scaled logits computed as <c>x / T</c> in float32; one uniform <c>u</c> per row; the chosen token is the first, in
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
        bool filter = !_plan.IsGreedy && _plan.TopK < n;
        int candidateCount = Math.Min(_candidateCount, n);
        var keep = filter ? new BoundedMinHeap(_plan.TopK) : null;
        var candidates = candidateCount > 0 ? new BoundedMinHeap(candidateCount) : null;
        if (!RowScan.Run(row, keep, candidates, temperature, _plan.ScaleBeforeTopK, out float max) || float.IsNegativeInfinity(max))
        {
            return null;
        }

        if (_plan.IsGreedy)
        {
            int argmax = RowScan.IndexOfFirst(row, max);
            return new NextTokenResult(argmax, 1f, Candidates(candidates, c => c.Id == argmax ? (c.Raw, 1f) : (float.NegativeInfinity, 0f)));
        }

        return filter ? SampleSurvivors(keep!, candidates, temperature, u) : SampleAll(row, candidates, max, temperature, u);
    }

    private static NextTokenResult SampleSurvivors(BoundedMinHeap keep, BoundedMinHeap? candidates, float temperature, double u)
    {
        var survivors = keep.Items.ToArray();
        Array.Sort(survivors, static (a, b) => a.Id.CompareTo(b.Id));
        int count = survivors.Length;
        Span<float> processed = count <= 256 ? stackalloc float[count] : new float[count];
        Span<double> weights = count <= 256 ? stackalloc double[count] : new double[count];
        float maxProcessed = float.NegativeInfinity;
        for (int s = 0; s < count; s++)
        {
            processed[s] = survivors[s].Raw / temperature;
            maxProcessed = Math.Max(maxProcessed, processed[s]);
        }

        double total = 0;
        for (int s = 0; s < count; s++)
        {
            weights[s] = Math.Exp((double)processed[s] - maxProcessed);
            total += weights[s];
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

        var byId = survivors;
        var processedCopy = processed.ToArray();
        var weightsCopy = weights.ToArray();
        var result = Candidates(candidates, c =>
        {
            int at = Array.BinarySearch(byId, c, IdComparer.Instance);
            return at >= 0 ? (processedCopy[at], (float)(weightsCopy[at] / total)) : (float.NegativeInfinity, 0f);
        });
        return new NextTokenResult(survivors[chosen].Id, (float)(weights[chosen] / total), result);
    }

    private static NextTokenResult SampleAll(ReadOnlySpan<float> row, BoundedMinHeap? candidates, float max, float temperature, double u)
    {
        int n = row.Length;
        float maxProcessed = max / temperature;
        float[] rented = ArrayPool<float>.Shared.Rent(n);
        double[] blockSums = ArrayPool<double>.Shared.Rent((n + Block - 1) / Block);
        try
        {
            var weights = rented.AsSpan(0, n);
            double total = Exponentials(row, weights, blockSums, temperature, maxProcessed);
            int chosen = Walk(weights, blockSums, u * total);
            float chosenWeight = weights[chosen];
            var result = Candidates(candidates, c => (c.Raw / temperature, (float)(rented[c.Id] / total)));
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

    private static TokenCandidate[] Candidates(BoundedMinHeap? heap, Func<RankedEntry, (float Processed, float Probability)> describe)
    {
        if (heap is null)
        {
            return [];
        }

        var entries = heap.Items.ToArray();
        Array.Sort(entries, static (a, b) => a.Raw != b.Raw ? b.Raw.CompareTo(a.Raw) : a.Id.CompareTo(b.Id));
        var result = new TokenCandidate[entries.Length];
        for (int c = 0; c < entries.Length; c++)
        {
            var (processed, probability) = describe(entries[c]);
            result[c] = new TokenCandidate(entries[c].Id, entries[c].Raw, processed, probability);
        }

        return result;
    }

    private sealed class IdComparer : IComparer<RankedEntry>
    {
        public static readonly IdComparer Instance = new();

        public int Compare(RankedEntry x, RankedEntry y) => x.Id.CompareTo(y.Id);
    }
}
