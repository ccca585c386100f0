namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>Top-p and min-p without a top-k, on a window of the row below its maximum.</summary>
internal sealed partial class CpuRowSampler
{
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
}
