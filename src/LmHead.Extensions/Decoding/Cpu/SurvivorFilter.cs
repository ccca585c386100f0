using System.Buffers;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// Top-p then min-p on the survivors of a top-k, in managed code: the rules of <see cref="TopPFilter"/> and
/// <see cref="MinPFilter"/> applied to at most k entries instead of a sort and softmax of the whole row.
/// </summary>
/// <remarks>
/// The tensor stages see the row after top-k, where every other token is -infinity and so has probability 0: their
/// float64 softmax, sort and cumulative sum over V entries equal these over the survivors. Top-p ranks by processed
/// logit (lower id first on ties, as the stable sort does), computes each token's probability as its float64 weight
/// over the total, and keeps a token while the mass before it (cumulative sum minus its own probability, as the
/// tensor stage subtracts) is below p; the first is always kept. Min-p then keeps the tokens whose probability is at
/// least <c>min_p × p_max</c> over what top-p left. Dropped tokens get weight 0 and processed logit -infinity.
/// </remarks>
internal static class SurvivorFilter
{
    /// <summary>
    /// Filters <paramref name="weights"/> (<c>exp(processed − max)</c> in float64, summing to <paramref name="total"/>)
    /// and the matching <paramref name="processed"/> logits in place.
    /// </summary>
    /// <param name="processed">The survivors' processed logits, in id order.</param>
    /// <param name="weights">Their softmax weights.</param>
    /// <param name="total">The sum of <paramref name="weights"/>.</param>
    /// <param name="topP">The top-p mass (1 for off).</param>
    /// <param name="minP">The min-p threshold (0 for off).</param>
    /// <param name="order">Scratch of at least as many entries as <paramref name="weights"/>.</param>
    /// <returns>The sum of the weights left.</returns>
    public static double Apply(Span<float> processed, Span<double> weights, double total, float topP, float minP, Span<ulong> order)
    {
        int count = weights.Length;
        if (topP < 1f && count > BucketedAbove)
        {
            TopPByBuckets(processed, weights, total, topP, order);
            total = Sum(weights);
        }
        else if (topP < 1f)
        {
            // One primitive sort of packed keys (rank by processed logit, then position) instead of a comparer sort:
            // several times faster on the few hundred entries of a top-p window.
            var ranked = order[..count];
            for (int s = 0; s < count; s++)
            {
                ranked[s] = RankKey(processed[s], s);
            }

            ranked.Sort();
            double cumulative = 0;
            for (int r = 0; r < count; r++)
            {
                int s = (int)(uint)ranked[r];
                double probability = weights[s] / total;
                cumulative += probability;
                if (r > 0 && !(cumulative - probability < topP))
                {
                    Drop(processed, weights, s);
                }
            }

            total = Sum(weights);
        }

        if (minP > 0f)
        {
            double maxWeight = 0;
            foreach (double weight in weights)
            {
                maxWeight = Math.Max(maxWeight, weight);
            }

            double threshold = maxWeight / total * minP;
            for (int s = 0; s < count; s++)
            {
                if (weights[s] / total < threshold)
                {
                    Drop(processed, weights, s);
                }
            }

            total = Sum(weights);
        }

        return total;
    }

    /// <summary>Above this many survivors, top-p ranks by buckets (<see cref="TopPByBuckets"/>) instead of sorting them all.</summary>
    internal const int BucketedAbove = 512;

    /// <summary>The most buckets <see cref="TopPByBuckets"/> uses (on the stack).</summary>
    private const int MaxBuckets = 1024;

    /// <summary>
    /// Top-p without sorting every survivor: the survivors are spread over buckets of processed logit (a monotone map, so
    /// every bucket holds a contiguous stretch of the ranking), each bucket's probability mass is summed, and the buckets
    /// are walked from the top. A bucket that ends clearly below p is kept whole; only the bucket where the cumulative
    /// mass reaches p is sorted and walked token by token with the rule of the full sort (keep while the mass before a
    /// token is below p; the first token always); every later token is dropped. The mass before the crossing bucket is
    /// summed per bucket rather than token by token, which can differ from the full sort's running sum only in the last
    /// bits: a token's fate can change only when the mass before it is within about 10^-15 of p.
    /// </summary>
    private static void TopPByBuckets(Span<float> processed, Span<double> weights, double total, float topP, Span<ulong> order)
    {
        int count = weights.Length;
        float top = float.NegativeInfinity, bottom = float.PositiveInfinity;
        foreach (float value in processed)
        {
            if (value > float.NegativeInfinity)
            {
                top = Math.Max(top, value);
                bottom = Math.Min(bottom, value);
            }
        }

        int buckets = Math.Clamp(count / 32, 64, MaxBuckets);
        double range = (double)top - bottom;
        double scale = range > 0 ? buckets / range : 0;
        Span<int> start = stackalloc int[buckets + 1];
        Span<double> mass = stackalloc double[buckets];
        start.Clear();
        mass.Clear();
        int[] rented = ArrayPool<int>.Shared.Rent(count);
        var bucketOf = rented.AsSpan(0, count);
        // A bucket's mass only decides whether the bucket ends clearly below p, so multiplying by 1 / total is enough here.
        double inverseTotal = 1 / total;
        for (int s = 0; s < count; s++)
        {
            int bucket = Bucket(processed[s], top, scale, buckets);
            bucketOf[s] = bucket;
            start[bucket + 1]++;
            mass[bucket] += weights[s] * inverseTotal;
        }

        for (int b = 0; b < buckets; b++)
        {
            start[b + 1] += start[b];
        }

        // Counting sort by bucket; within a bucket the positions stay in ascending order.
        Span<int> fill = stackalloc int[buckets];
        start[..buckets].CopyTo(fill);
        var keys = order[..count];
        for (int s = 0; s < count; s++)
        {
            keys[fill[bucketOf[s]]++] = RankKey(processed[s], s);
        }

        ArrayPool<int>.Shared.Return(rented);

        // Clearly below p: a bucket's own sum may differ from the token-by-token sum in the last bits, so buckets that end
        // within this of p are walked token by token.
        // (The bucket masses were multiplied by 1 / total, a few ulp from the division below: far inside this margin.)
        const double Margin = 1e-9;
        double cumulative = 0;
        bool keeping = true;
        int rank = 0;
        for (int b = 0; b < buckets; b++)
        {
            var bucketKeys = keys[start[b]..start[b + 1]];
            if (bucketKeys.IsEmpty)
            {
                continue;
            }

            if (keeping && cumulative + mass[b] < topP - Margin)
            {
                cumulative += mass[b];
                rank += bucketKeys.Length;
                continue;
            }

            if (keeping)
            {
                bucketKeys.Sort();
            }

            foreach (ulong key in bucketKeys)
            {
                int s = (int)(uint)key;
                if (!keeping)
                {
                    Drop(processed, weights, s);
                    continue;
                }

                double probability = weights[s] / total;
                cumulative += probability;
                if (rank++ > 0 && !(cumulative - probability < topP))
                {
                    Drop(processed, weights, s);
                    keeping = false;
                }
            }
        }
    }

    /// <summary>The bucket of a processed logit: 0 for the top, rising as the logit falls (monotone), -infinity in the last.</summary>
    private static int Bucket(float value, float top, double scale, int buckets)
    {
        double below = ((double)top - value) * scale;
        return below < buckets - 1 ? (int)below : buckets - 1;
    }

    private static void Drop(Span<float> processed, Span<double> weights, int s)
    {
        processed[s] = float.NegativeInfinity;
        weights[s] = 0;
    }

    private static double Sum(ReadOnlySpan<double> weights)
    {
        double sum = 0;
        foreach (double weight in weights)
        {
            sum += weight;
        }

        return sum;
    }

    /// <summary>
    /// A key whose ascending order is the tensor stage's ranking: higher processed logit first, then the lower position
    /// (positions are in id order). The float's bits are mapped to an order-preserving unsigned number and complemented;
    /// −0 is first made +0, as the two compare equal.
    /// </summary>
    internal static ulong RankKey(float processed, int position)
    {
        uint bits = BitConverter.SingleToUInt32Bits(processed + 0f);
        uint ascending = (bits & 0x8000_0000u) != 0 ? ~bits : bits | 0x8000_0000u;
        return ((ulong)~ascending << 32) | (uint)position;
    }
}
