namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>Softmax, top-p / min-p and the draw over a small set of kept entries.</summary>
internal sealed partial class CpuRowSampler
{
    /// <summary>
    /// Samples among <paramref name="kept"/> after top-p and min-p; <paramref name="rowTotal"/> is the softmax normaliser
    /// of the whole row when the kept entries are only a window of it (top-p without top-k), else 0.
    /// </summary>
    /// <remarks>
    /// With <paramref name="weightsReady"/>, the first <c>kept.Length</c> entries of <see cref="_weights"/> already hold the
    /// survivors' float64 weights <c>exp(s − max)</c> (<see cref="KeepAbove"/> or <see cref="KeepNear"/> computed them, for the same maximum), and
    /// they are not computed again.
    /// </remarks>
    private NextTokenResult SampleSurvivors(
        ReadOnlySpan<RankedEntry> kept, bool sortedById, ReadOnlySpan<RankedEntry> ranked, float temperature, float shift, double u, double rowTotal = 0,
        bool weightsReady = false)
    {
        int count = kept.Length;
        EnsureSurvivorScratch(count);
        var survivors = _survivors.AsSpan(0, count);
        kept.CopyTo(survivors);
        if (!sortedById)
        {
            survivors.Sort(default(IdOrder));
        }

        var ids = _survivorIds.AsSpan(0, count);
        var processed = _processed.AsSpan(0, count);
        float maxProcessed = float.NegativeInfinity;
        for (int s = 0; s < count; s++)
        {
            ids[s] = survivors[s].Id;
            processed[s] = (survivors[s].Raw - shift) / temperature;
            maxProcessed = Math.Max(maxProcessed, processed[s]);
        }

        return DrawSurvivors(count, maxProcessed, ranked, u, rowTotal, weightsReady);
    }

    /// <summary>
    /// Top-p / min-p and the draw over the first <paramref name="count"/> survivors in <see cref="_survivorIds"/> (by id)
    /// and <see cref="_processed"/>, whose largest processed logit is <paramref name="maxProcessed"/>; with
    /// <paramref name="weightsReady"/>, <see cref="_weights"/> already holds their weights <c>exp(s − maxProcessed)</c>.
    /// </summary>
    private NextTokenResult DrawSurvivors(int count, float maxProcessed, ReadOnlySpan<RankedEntry> ranked, double u, double rowTotal, bool weightsReady)
    {
        var ids = _survivorIds.AsSpan(0, count);
        var processed = _processed.AsSpan(0, count);
        var weights = _weights.AsSpan(0, count);
        double total = 0;
        if (!weightsReady)
        {
            for (int s = 0; s < count; s++)
            {
                weights[s] = Math.Exp((double)processed[s] - maxProcessed);
            }
        }

        // The survivors' own total is the filters' reference unless the caller measured the whole row's (top-p without top-k).
        if (!(rowTotal > 0 && _plan.FiltersSurvivors))
        {
            foreach (double weight in weights)
            {
                total += weight;
            }
        }

        if (_plan.FiltersSurvivors)
        {
            if (_byProbability.Length < count)
            {
                _byProbability = new ulong[count];
            }

            total = SurvivorFilter.Apply(processed, weights, rowTotal > 0 ? rowTotal : total, _plan.TopP, _plan.MinP, _byProbability);
        }

        double target = u * total;
        double cumulative = 0;
        int chosen = -1, lastPositive = 0;
        for (int s = 0; s < count; s++)
        {
            if (weights[s] > 0)
            {
                lastPositive = s;
            }

            cumulative += weights[s];
            if (cumulative > target)
            {
                chosen = s;
                break;
            }
        }

        if (chosen < 0)
        {
            chosen = lastPositive;
        }

        var result = new TokenCandidate[ranked.Length];
        for (int c = 0; c < ranked.Length; c++)
        {
            var entry = ranked[c];
            int at = ids.BinarySearch(entry.Id);
            result[c] = at >= 0
                ? new TokenCandidate(entry.Id, entry.Raw, processed[at], (float)(weights[at] / total))
                : new TokenCandidate(entry.Id, entry.Raw, float.NegativeInfinity, 0f);
        }

        var next = new NextTokenResult(ids[chosen], (float)(weights[chosen] / total), result);
        if (_request is { } request)
        {
            // log softmax of what is left: s − max − ln Σ exp(s − max); the maximum always survives the filters.
            double logTotal = maxProcessed + Math.Log(total);
            var survivors = _survivors.AsSpan(0, count);
            for (int s = 0; s < count; s++)
            {
                survivors[s] = new RankedEntry(processed[s], 0f, ids[s]);
            }

            var top = Best(survivors, Math.Min(request.Top, count), ref _best);
            var scored = new List<ScoredToken>(top.Length);
            foreach (var entry in top)
            {
                if (!float.IsNegativeInfinity(entry.Key))
                {
                    scored.Add(new ScoredToken(entry.Id, entry.Key - logTotal, null));
                }
            }

            next.LogProbabilities = new LogProbabilityReport(new ScoredToken(next.TokenId, processed[chosen] - logTotal, null), scored);
        }

        return next;
    }

    /// <summary>Grows the survivor buffers (<see cref="_survivors"/>, <see cref="_survivorIds"/>, <see cref="_processed"/>, <see cref="_weights"/>) together to at least <paramref name="count"/> entries.</summary>
    private void EnsureSurvivorScratch(int count)
    {
        if (_survivors.Length < count)
        {
            _survivors = new RankedEntry[count];
            _survivorIds = new int[count];
            _processed = new float[count];
            _weights = new double[count];
        }
    }

    private readonly struct IdOrder : IComparer<RankedEntry>
    {
        public int Compare(RankedEntry x, RankedEntry y) => x.Id.CompareTo(y.Id);
    }
}
