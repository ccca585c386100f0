namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// The logit bias and the repetition, frequency and presence penalties for the CPU sampler: they change only the few
/// logits of biased or previously seen tokens, so only those entries are recomputed (and written over a copy of the
/// row where a whole processed row is needed), with the stages' float32 arithmetic in their order (<see cref="Decoding.LogitBias"/> adds, <see cref="Decoding.RepetitionPenalty"/>
/// multiplies a negative logit by the penalty and divides a positive one, <see cref="FrequencyPresencePenalty"/> subtracts
/// <c>count × frequency + presence</c>). Instances hold scratch collections and are not thread-safe.
/// </summary>
internal sealed class LogitPatch
{
    private readonly HashSet<int> _seen = [];
    private readonly Dictionary<int, int> _counts = [];

    private readonly Dictionary<int, float> _values = [];

    /// <summary>How many ids the stages change.</summary>
    public int Count => _values.Count;

    /// <summary>The changed ids and their processed values.</summary>
    public IReadOnlyDictionary<int, float> Values => _values;

    /// <summary>The processed value of <paramref name="id"/> when a stage changes it.</summary>
    public bool TryGetValue(int id, out float value) => _values.TryGetValue(id, out value);

    /// <summary>
    /// Computes the processed value of every id the stages change. <see langword="false"/> when the history or the bias
    /// names a token outside the row (the tensor stages report it).
    /// </summary>
    /// <param name="plan">The stages.</param>
    /// <param name="row">The raw logits.</param>
    /// <param name="history">The tokens seen so far.</param>
    public bool TryCompute(CpuSamplingPlan plan, ReadOnlySpan<float> row, TokenHistory history)
    {
        int n = row.Length;
        _values.Clear();
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

        // Stage by stage, each on its own ids, in the library's order.
        foreach (var (token, bias) in plan.LogitBias)
        {
            _values[token] = row[token] + bias;
        }

        float penalty = plan.RepetitionPenalty;
        foreach (int token in _seen)
        {
            float value = _values.TryGetValue(token, out float biased) ? biased : row[token];
            _values[token] = value < 0f ? value * penalty : value / penalty;
        }

        foreach (var (token, count) in _counts)
        {
            float value = _values.TryGetValue(token, out float penalised) ? penalised : row[token];
            _values[token] = value - (count * plan.FrequencyPenalty + plan.PresencePenalty);
        }

        return true;
    }

    /// <summary>Writes the processed row: <paramref name="row"/> with the changed ids replaced.</summary>
    public void WriteTo(ReadOnlySpan<float> row, Span<float> target)
    {
        row.CopyTo(target);
        foreach (var (token, value) in _values)
        {
            target[token] = value;
        }
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
