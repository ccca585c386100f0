using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// Top-p and min-p without a top-k, without sorting the row: the tokens they can keep lie within a window below the
/// row's maximum processed logit, so one SIMD pass collects the entries above a raw threshold (in id order) and only
/// those are ranked.
/// </summary>
/// <remarks>
/// Collecting by raw value keeps a prefix of the tensor stages' ranking (processed logit descending, lower id first):
/// <c>(x − shift) / T</c> never reverses an order, so every entry left out has a processed logit at most
/// <c>(threshold − shift) / T</c>, and the caller keeps only collected entries strictly above that value. Min-p keeps
/// <c>exp(s − max) ≥ min_p</c>, so a window of <c>−ln min_p</c> (plus rounding) holds all it keeps. Top-p keeps the
/// tokens ranked before the one whose cumulative probability crosses p (and that one); the window holds them when the
/// mass of the entries kept reaches p of the row's softmax normaliser, which the caller checks, widening the window
/// (and in the end taking the whole row) when it does not.
/// </remarks>
internal static class NucleusWindow
{
    /// <summary>The windows whose mass <see cref="Normaliser"/> measures, in processed-logit units below the maximum.</summary>
    public static ReadOnlySpan<double> Widths => [2, 4, 6, 8];

    /// <summary>The first window top-p tries when none of <see cref="Widths"/> holds the mass (the next ones are 4 times wider).</summary>
    public const double WidestGuess = 16;

    /// <summary>
    /// The narrowest of <see cref="Widths"/> whose measured mass exceeds p of the normaliser with room to spare (the
    /// measure uses float32 weights; the caller checks the window exactly), else <see cref="WidestGuess"/>.
    /// </summary>
    public static double FirstWidth(ReadOnlySpan<double> levelMass, double total, float topP)
    {
        for (int level = 0; level < levelMass.Length; level++)
        {
            if (levelMass[level] >= (topP + 1e-3) * total)
            {
                return Widths[level];
            }
        }

        return WidestGuess;
    }

    /// <summary>
    /// The softmax normaliser <c>Σ exp((x − shift) / T − maxProcessed)</c> of the whole row in one vectorised pass (the
    /// weights of <see cref="CpuRowSampler.Exponentials"/>, not stored), and in <paramref name="levelMass"/> (empty: not
    /// measured) the part of it from the weights above <c>exp(−width)</c> for each of <see cref="Widths"/>.
    /// </summary>
    public static double Normaliser(ReadOnlySpan<float> row, float temperature, float shift, float maxProcessed, Span<double> levelMass)
    {
        levelMass.Clear();
        if (!CpuRowSampler.UsesInverse(temperature, shift, maxProcessed))
        {
            double sum = 0;
            foreach (float x in row)
            {
                float weight = FastExp.Exp(Vector256.Create((x - shift) / temperature - maxProcessed)).ToScalar();
                sum += weight;
                AddToLevels(levelMass, weight);
            }

            return sum;
        }

        int n = row.Length;
        ref float source = ref MemoryMarshal.GetReference(row);
        var inverse = Vector256.Create(1f / temperature);
        var offset = Vector256.Create(-maxProcessed);
        bool measure = levelMass.Length > 0;
        var t0 = Vector256.Create(MathF.Exp(-(float)Widths[0]));
        var t1 = Vector256.Create(MathF.Exp(-(float)Widths[1]));
        var t2 = Vector256.Create(MathF.Exp(-(float)Widths[2]));
        var t3 = Vector256.Create(MathF.Exp(-(float)Widths[3]));
        double total = 0;
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            const int Block = CpuRowSampler.Block;
            for (; i <= n - Block; i += Block)
            {
                var acc = Vector256<float>.Zero;
                var m0 = Vector256<float>.Zero;
                var m1 = Vector256<float>.Zero;
                var m2 = Vector256<float>.Zero;
                var m3 = Vector256<float>.Zero;
                for (int j = i; j < i + Block; j += 8)
                {
                    var e = FastExp.Exp(Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref source, (nuint)j), inverse, offset));
                    acc += e;
                    if (measure)
                    {
                        m0 += e & Vector256.GreaterThan(e, t0);
                        m1 += e & Vector256.GreaterThan(e, t1);
                        m2 += e & Vector256.GreaterThan(e, t2);
                        m3 += e & Vector256.GreaterThan(e, t3);
                    }
                }

                total += Vector256.Sum(acc);
                if (measure)
                {
                    levelMass[0] += Vector256.Sum(m0);
                    levelMass[1] += Vector256.Sum(m1);
                    levelMass[2] += Vector256.Sum(m2);
                    levelMass[3] += Vector256.Sum(m3);
                }
            }
        }

        for (; i < n; i++)
        {
            float weight = FastExp.Exp(Vector256.Create(row[i] * (1f / temperature) - maxProcessed)).ToScalar();
            total += weight;
            AddToLevels(levelMass, weight);
        }

        return total;
    }

    private static void AddToLevels(Span<double> levelMass, float weight)
    {
        for (int level = 0; level < levelMass.Length; level++)
        {
            levelMass[level] += weight > MathF.Exp(-(float)Widths[level]) ? weight : 0;
        }
    }

    /// <summary>How many times a too narrow top-p window is widened (×4 each) before the whole row is taken.</summary>
    public const int Widenings = 3;

    /// <summary>The window min-p needs: tokens further below the maximum have a probability under min_p times the top one.</summary>
    public static double MinPWidth(float minP) => -Math.Log(minP) * (1 + 1e-6) + 1e-3;

    /// <summary>Appends every entry of <paramref name="row"/> above <paramref name="threshold"/>, in id order, to <paramref name="buffer"/> (grown as needed).</summary>
    /// <returns>How many entries were collected.</returns>
    public static int Collect(ReadOnlySpan<float> row, float threshold, ref RankedEntry[] buffer)
    {
        var sink = new CollectSink(buffer, threshold);
        RowScan.Scan(row, 0, threshold, ref sink, out _);
        buffer = sink.Buffer;
        return sink.Count;
    }

    private struct CollectSink(RankedEntry[] buffer, float threshold) : RowScan.ISink
    {
        public RankedEntry[] Buffer = buffer;

        public int Count;

        public float Accept(float value, int id)
        {
            if (Count == Buffer.Length)
            {
                Array.Resize(ref Buffer, Math.Max(256, 2 * Count));
            }

            Buffer[Count++] = new RankedEntry(value, value, id);
            return threshold;
        }
    }
}
