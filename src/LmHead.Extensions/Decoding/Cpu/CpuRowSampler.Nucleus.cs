using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>Top-p and min-p without a top-k, on a window of the row below its maximum.</summary>
internal sealed partial class CpuRowSampler
{
    /// <summary>
    /// Top-p and/or min-p with no top-k (<see cref="NucleusWindow"/>): the maximum (and the candidates) in one pass; for
    /// top-p, the softmax normaliser of the whole row and the entries near the maximum in a second
    /// (<see cref="NucleusPass"/>), from which the narrowest window that holds p is kept; then the survivors' rules on
    /// those entries only. Rows it cannot take (tiny temperatures, mass far below the maximum) and min-p alone measure
    /// fixed widths and collect the window in another pass.
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
        double rowTotal = 0, width;
        if (topP && UsesInverse(temperature, shift, maxProcessed))
        {
            // One pass: the normaliser and the entries near the maximum; the narrowest window that holds p comes from them.
            rowTotal = NucleusPass.NormaliserAndCollect(row, temperature, maxProcessed, ref _nearIds, ref _nearWeights, out int collected);
            if (collected > LargeWindowAbove && !(_plan.MinP > 0f) && _request is null && UseLargeWindow
                && TrySampleLargeWindow(row, collected, rowTotal, shift, ranked, u, out var large))
            {
                return large;
            }

            var near = _nearIds.AsSpan(0, collected);
            width = NucleusPass.NarrowestWidth(row, near, _nearWeights.AsSpan(0, collected), temperature, maxProcessed, rowTotal, _plan.TopP);
            float threshold = (float)(((double)maxProcessed - width) * temperature + shift);
            float processedThreshold = (threshold - shift) / temperature;
            if (width > 0 && processedThreshold < maxProcessed)
            {
                int kept = KeepNear(row, near, shift, processedThreshold, maxProcessed, out double mass);
                if (mass >= (_plan.TopP + 1e-9) * rowTotal)
                {
                    return DrawSurvivors(kept, maxProcessed, ranked, u, rowTotal, weightsReady: true);
                }
            }

            width = NucleusWindow.WidestGuess;
        }
        else
        {
            // The normaliser, and the mass within each of the NucleusWindow.Widths: the narrowest that holds p (with room) is tried first.
            Span<double> levels = stackalloc double[NucleusWindow.Widths.Length];
            rowTotal = topP ? NucleusWindow.Normaliser(row, temperature, shift, maxProcessed, levels) : 0;
            width = topP ? NucleusWindow.FirstWidth(levels, rowTotal, _plan.TopP) : NucleusWindow.MinPWidth(_plan.MinP);
        }

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
            int kept = KeepAbove(count, shift, processedThreshold, maxProcessed, out double mass);

            // The top-p crossing lies inside the window when the window's mass reaches p (with room for rounding).
            if (!topP || float.IsNegativeInfinity(threshold) || mass >= (_plan.TopP + 1e-9) * rowTotal)
            {
                return SampleSurvivors(_window.AsSpan(0, kept), sortedById: true, ranked, temperature, shift, u, rowTotal, weightsReady: topP);
            }
        }
    }

    /// <summary>
    /// Keeps, in place and in id order, the first <paramref name="count"/> entries of the window whose processed logit
    /// is above <paramref name="processedThreshold"/> (keyed by their raw logit); with top-p, also stores their float64
    /// weights <c>exp(s − maxProcessed)</c> in <see cref="_weights"/> (what <see cref="SampleSurvivors"/> would compute)
    /// and sums them into <paramref name="mass"/>.
    /// </summary>
    private int KeepAbove(int count, float shift, float processedThreshold, float maxProcessed, out double mass)
    {
        float temperature = _plan.Temperature;
        bool measure = _plan.TopP < 1f;
        EnsureSurvivorScratch(count);
        var processedKept = _processed;
        int kept = 0;
        for (int e = 0; e < count; e++)
        {
            var entry = _window[e];
            float processed = (entry.Raw - shift) / temperature;
            if (processed > processedThreshold)
            {
                processedKept[kept] = processed;
                _window[kept++] = new RankedEntry(entry.Raw, entry.Raw, entry.Id);
            }
        }

        mass = measure ? Weights(processedKept.AsSpan(0, kept), maxProcessed, _weights) : 0;
        return kept;
    }

    /// <summary>
    /// As <see cref="KeepAbove"/>, for the entries of <paramref name="row"/> at <paramref name="ids"/> (ascending), straight
    /// into the survivor buffers (<see cref="_survivorIds"/>, <see cref="_processed"/>, <see cref="_weights"/>) that
    /// <see cref="DrawSurvivors"/> reads: with AVX-512, 16 at a time by gathers, the same float32 division and a
    /// compressed store (a flat row keeps tens of thousands of entries).
    /// </summary>
    private unsafe int KeepNear(ReadOnlySpan<float> row, ReadOnlySpan<int> ids, float shift, float processedThreshold, float maxProcessed, out double mass)
    {
        float temperature = _plan.Temperature;
        EnsureSurvivorScratch(ids.Length + 16);
        int kept = 0, c = 0;
        fixed (float* source = row)
        fixed (int* idSource = ids)
        fixed (int* idTarget = _survivorIds)
        fixed (float* processedTarget = _processed)
        {
            if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported && Avx2.IsSupported)
            {
                var shiftV = Vector512.Create(shift);
                var temperatureV = Vector512.Create(temperature);
                var thresholdV = Vector512.Create(processedThreshold);
                for (; c <= ids.Length - 16; c += 16)
                {
                    var at = Vector512.Load(idSource + c);
                    var raw = Vector512.Create(Avx2.GatherVector256(source, at.GetLower(), 4), Avx2.GatherVector256(source, at.GetUpper(), 4));
                    var processed = (raw - shiftV) / temperatureV;
                    var keep = Vector512.GreaterThan(processed, thresholdV);
                    Avx512F.Compress(Vector512<int>.Zero, keep.AsInt32(), at).Store(idTarget + kept);
                    Avx512F.Compress(Vector512<float>.Zero, keep, processed).Store(processedTarget + kept);
                    kept += BitOperations.PopCount(keep.ExtractMostSignificantBits());
                }
            }

            for (; c < ids.Length; c++)
            {
                float processed = (source[idSource[c]] - shift) / temperature;
                if (processed > processedThreshold)
                {
                    idTarget[kept] = idSource[c];
                    processedTarget[kept++] = processed;
                }
            }
        }

        mass = Weights(_processed.AsSpan(0, kept), maxProcessed, _weights);
        return kept;
    }

    /// <summary>
    /// <c>weights[i] = exp(processed[i] − maxProcessed)</c> in float64 (8 at a time with AVX-512 by
    /// <see cref="FastExp.ExpDouble"/>, within a few ulp of <see cref="Math.Exp"/>; otherwise <see cref="Math.Exp"/>), and their sum.
    /// </summary>
    private static double Weights(ReadOnlySpan<float> processed, float maxProcessed, double[] weights)
    {
        int i = 0;
        double sum = 0;
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported)
        {
            var max = Vector512.Create((double)maxProcessed);
            var minimum = Vector512.Create(FastExp.DoubleMinimum);
            var acc = Vector512<double>.Zero;
            ref float source = ref MemoryMarshal.GetReference(processed);
            for (; i <= processed.Length - 8; i += 8)
            {
                var x = Avx512F.ConvertToVector512Double(Vector256.LoadUnsafe(ref source, (nuint)i)) - max;
                if (Vector512.GreaterThanOrEqualAll(x, minimum))
                {
                    var w = FastExp.ExpDouble(x);
                    w.StoreUnsafe(ref weights[i]);
                    acc += w;
                }
                else
                {
                    for (int k = i; k < i + 8; k++)
                    {
                        weights[k] = Math.Exp((double)processed[k] - maxProcessed);
                        sum += weights[k];
                    }
                }
            }

            sum += Vector512.Sum(acc);
        }

        for (; i < processed.Length; i++)
        {
            weights[i] = Math.Exp((double)processed[i] - maxProcessed);
            sum += weights[i];
        }

        return sum;
    }
}
