using System.Buffers;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>Sampling over every token of the row (no top-k, top-p or min-p), and the raw log-probabilities.</summary>
internal sealed partial class CpuRowSampler
{
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
}
