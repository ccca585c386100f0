using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>The vectorised softmax weights of a whole row, summed per block, and the inverse-CDF walk over them.</summary>
internal sealed partial class CpuRowSampler
{
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
            if (Vector512.IsHardwareAccelerated && start + Block <= n)
            {
                // The 16-lane exponential has the same steps and constants as the 8-lane one: the same weights, in half the instructions.
                var inverse16 = Vector512.Create(1f / temperature);
                var shift16 = Vector512.Create(-maxProcessed);
                var e0 = FastExp.Exp(Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref source, (nuint)start), inverse16, shift16));
                var e1 = FastExp.Exp(Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref source, (nuint)(start + 16)), inverse16, shift16));
                var e2 = FastExp.Exp(Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref source, (nuint)(start + 32)), inverse16, shift16));
                var e3 = FastExp.Exp(Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref source, (nuint)(start + 48)), inverse16, shift16));
                e0.StoreUnsafe(ref target, (nuint)start);
                e1.StoreUnsafe(ref target, (nuint)(start + 16));
                e2.StoreUnsafe(ref target, (nuint)(start + 32));
                e3.StoreUnsafe(ref target, (nuint)(start + 48));
                sum = Vector512.Sum((e0 + e1) + (e2 + e3));
            }
            else if (Vector256.IsHardwareAccelerated && start + Block <= n)
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
}
