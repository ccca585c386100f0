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
    /// <summary>The first window top-p tries, in processed-logit units (tokens below it weigh under e^-8 ≈ 3e-4 of the top one).</summary>
    public const double TopPWidth = 8;

    /// <summary>How many times a too narrow top-p window is widened (×4 each) before the whole row is taken.</summary>
    public const int Widenings = 2;

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
