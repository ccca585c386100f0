namespace LmHead.Extensions.Decoding;

/// <summary>What the head decided for one row: the chosen token and the candidates it chose among.</summary>
public sealed class NextTokenResult
{
    internal NextTokenResult(int tokenId, float probability, IReadOnlyList<TokenCandidate> candidates)
    {
        TokenId = tokenId;
        Probability = probability;
        Candidates = candidates;
    }

    /// <summary>The chosen token id.</summary>
    public int TokenId { get; }

    /// <summary>The chosen token's probability under the processed distribution.</summary>
    public float Probability { get; }

    /// <summary>The highest raw logits, best first, each with its processed logit and probability.</summary>
    public IReadOnlyList<TokenCandidate> Candidates { get; }

    /// <summary>The step's log-probabilities, when the caller asked for them (<see cref="DecodingPipeline"/>'s log-probability step).</summary>
    internal LogProbabilityReport? LogProbabilities { get; set; }
}
