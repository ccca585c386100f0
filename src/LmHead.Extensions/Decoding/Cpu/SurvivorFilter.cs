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
        if (topP < 1f)
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
