namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// The logit bias and the repetition, frequency and presence penalties for the CPU sampler: they change only the few
/// logits of biased or previously seen tokens, so the row is copied once and only those entries are recomputed, with the
/// stages' float32 arithmetic in their order (<see cref="Decoding.LogitBias"/> adds, <see cref="Decoding.RepetitionPenalty"/>
/// multiplies a negative logit by the penalty and divides a positive one, <see cref="FrequencyPresencePenalty"/> subtracts
/// <c>count × frequency + presence</c>). Instances hold scratch collections and are not thread-safe.
/// </summary>
internal sealed class LogitPatch
{
    private readonly HashSet<int> _seen = [];
    private readonly Dictionary<int, int> _counts = [];

    /// <summary>
    /// Writes the processed row into <paramref name="patched"/> when a stage changes it. <see langword="false"/> when the
    /// history or the bias names a token outside the row (the tensor stages report it).
    /// </summary>
    /// <param name="plan">The stages.</param>
    /// <param name="row">The raw logits.</param>
    /// <param name="history">The tokens seen so far.</param>
    /// <param name="patched">Scratch, grown to the row's length when needed; holds the processed row when <paramref name="changed"/>.</param>
    /// <param name="changed">Whether any logit changed (otherwise <paramref name="patched"/> is untouched).</param>
    public bool TryApply(CpuSamplingPlan plan, ReadOnlySpan<float> row, TokenHistory history, ref float[] patched, out bool changed)
    {
        int n = row.Length;
        changed = false;
        if (plan.LogitBias.Length > 0 && plan.LogitBias[^1].Key >= n)
        {
            return false;
        }

        _seen.Clear();
        _counts.Clear();
        if (plan.UsesHistory)
        {
            if (!InVocabulary(history.PromptTokens, n) || !InVocabulary(history.GeneratedTokens, n))
            {
                return false;
            }

            if (plan.RepetitionPenalty != 1f)
            {
                foreach (int token in history.AllTokens(plan.PenaltyWindow))
                {
                    _seen.Add(token);
                }
            }

            if (plan.FrequencyPenalty != 0f || plan.PresencePenalty != 0f)
            {
                foreach (int token in history.Generated(plan.PenaltyWindow))
                {
                    _counts[token] = _counts.GetValueOrDefault(token) + 1;
                }
            }
        }

        if (plan.LogitBias.Length == 0 && _seen.Count == 0 && _counts.Count == 0)
        {
            return true;
        }

        if (patched.Length < n)
        {
            patched = new float[n];
        }

        var target = patched.AsSpan(0, n);
        row.CopyTo(target);
        foreach (var (token, bias) in plan.LogitBias)
        {
            target[token] += bias;
        }

        float penalty = plan.RepetitionPenalty;
        foreach (int token in _seen)
        {
            float value = target[token];
            target[token] = value < 0f ? value * penalty : value / penalty;
        }

        foreach (var (token, count) in _counts)
        {
            target[token] -= count * plan.FrequencyPenalty + plan.PresencePenalty;
        }

        changed = true;
        return true;
    }

    private static bool InVocabulary(IReadOnlyList<int> tokens, int n)
    {
        for (int i = 0; i < tokens.Count; i++)
        {
            if ((uint)tokens[i] >= (uint)n)
            {
                return false;
            }
        }

        return true;
    }
}
