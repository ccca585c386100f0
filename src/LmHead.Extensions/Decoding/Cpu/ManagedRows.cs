namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// The tensor stages' arithmetic on one row that is already in a managed array (the ML.NET transforms' rows), without a
/// tensor round trip: the same operations in the same precision, so the results are the tensor path's. Each method
/// returns <see langword="false"/> for input the tensor path would reject or treat specially (NaN, +infinity); the caller
/// then runs the tensor stage, which reports the error with its usual message.
/// </summary>
internal static class ManagedRows
{
    /// <summary><see cref="TemperatureScaler.Apply"/> for one row.</summary>
    public static bool TryScale(ReadOnlySpan<float> row, float temperature, Span<float> output)
    {
        if (temperature == 0f)
        {
            return TryKeepTop(row, 1, output);
        }

        if (temperature == 1f)
        {
            row.CopyTo(output);
            return true;
        }

        // The stage shifts rows whose |max / T| is large (TemperatureScaler.ShiftFor): find the maximum first.
        float max = float.NegativeInfinity;
        foreach (float value in row)
        {
            max = Math.Max(max, value);
        }

        float shift = TemperatureScaler.ShiftFor(max, temperature);

        // Element-wise float32 subtraction and division, as libtorch's sub and div (NaN and +infinity pass through, as there:
        // such a row is never shifted). (x - 0) / T is x / T exactly.
        for (int i = 0; i < row.Length; i++)
        {
            output[i] = (row[i] - shift) / temperature;
        }

        return true;
    }

    /// <summary>
    /// <see cref="TopKFilter.Apply"/> for one row: keeps every value above the k-th largest and, among values equal to it,
    /// the lowest ids until k are kept; the rest become -infinity. <see langword="false"/> for NaN or +infinity.
    /// </summary>
    public static bool TryKeepTop(ReadOnlySpan<float> row, int k, Span<float> output)
    {
        foreach (float value in row)
        {
            if (float.IsNaN(value) || float.IsPositiveInfinity(value))
            {
                return false;
            }
        }

        if (k >= row.Length)
        {
            row.CopyTo(output);
            return true;
        }

        float kth = KthLargest(row, k);
        int needed = k;
        foreach (float value in row)
        {
            needed -= value > kth ? 1 : 0;
        }

        for (int i = 0; i < row.Length; i++)
        {
            float value = row[i];
            bool keep = value > kth || (value == kth && needed-- > 0);
            output[i] = keep ? value : float.NegativeInfinity;
        }

        return true;
    }

    /// <summary>
    /// <see cref="SoftmaxNormalizer.Normalize"/> for one row, computed in double precision and rounded once to float32.
    /// libtorch's float32 softmax rounds <c>x - max</c>, the exponentials and the sum separately, so it differs from this
    /// (more accurate) result by up to about 1e-6 relative for logits far below the maximum. <see langword="false"/> for rows the tensor stage rejects: NaN, +infinity, or no finite entry.
    /// </summary>
    public static bool TrySoftmax(ReadOnlySpan<float> row, Span<float> output)
    {
        float max = float.NegativeInfinity;
        foreach (float value in row)
        {
            if (float.IsNaN(value) || float.IsPositiveInfinity(value))
            {
                return false;
            }

            max = Math.Max(max, value);
        }

        if (float.IsNegativeInfinity(max))
        {
            return false;
        }

        double[] exponentials = System.Buffers.ArrayPool<double>.Shared.Rent(row.Length);
        try
        {
            double sum = 0;
            for (int i = 0; i < row.Length; i++)
            {
                // exp(-inf) is 0: most of a top-k-filtered row costs nothing.
                double e = float.IsNegativeInfinity(row[i]) ? 0 : Math.Exp((double)row[i] - max);
                exponentials[i] = e;
                sum += e;
            }

            double scale = 1 / sum;
            for (int i = 0; i < row.Length; i++)
            {
                output[i] = (float)(exponentials[i] * scale);
            }
        }
        finally
        {
            System.Buffers.ArrayPool<double>.Shared.Return(exponentials);
        }

        return true;
    }

    /// <summary>
    /// One draw of <see cref="MultinomialSampler"/> (one sample) for one row: in double precision, the target
    /// <c>u × total</c> against the running sum, the first id whose cumulative weight exceeds it, at most the last positive
    /// id. <see langword="false"/>, without drawing, for weights the tensor path rejects (non-finite, negative, zero sum).
    /// </summary>
    public static bool TrySampleOne(ReadOnlySpan<float> weights, SamplingRandom random, out int id, out float probability)
    {
        id = -1;
        probability = 0;
        double total = 0;
        int lastPositive = -1;
        for (int i = 0; i < weights.Length; i++)
        {
            float weight = weights[i];
            if (!float.IsFinite(weight) || weight < 0)
            {
                return false;
            }

            total += weight;
            lastPositive = weight > 0 ? i : lastPositive;
        }

        if (!(total > 0))
        {
            return false;
        }

        double target = random.NextDouble() * total;
        double cumulative = 0;
        int chosen = weights.Length;
        for (int i = 0; i < weights.Length; i++)
        {
            cumulative += weights[i];
            if (cumulative > target)
            {
                chosen = i;
                break;
            }
        }

        id = Math.Min(chosen, lastPositive);
        probability = (float)(weights[id] / total);
        return true;
    }

    /// <summary>The k-th largest value of <paramref name="row"/> (1-based, counting repeats), by quickselect on a copy.</summary>
    private static float KthLargest(ReadOnlySpan<float> row, int k)
    {
        float[] copy = System.Buffers.ArrayPool<float>.Shared.Rent(row.Length);
        try
        {
            var values = copy.AsSpan(0, row.Length);
            row.CopyTo(values);
            return BufferedTopK.SelectDescending(values, k - 1);
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(copy);
        }
    }
}
