namespace LmHead.Extensions.Decoding;

/// <summary>A token's natural-log probability under the processed distribution and, when asked, under the raw logits.</summary>
/// <param name="TokenId">The token id.</param>
/// <param name="LogProbability">The log-probability after every stage (-infinity when a filter removed the token).</param>
/// <param name="RawLogProbability">The log-probability under softmax of the raw logits, or <see langword="null"/> when not asked for.</param>
internal readonly record struct ScoredToken(int TokenId, double LogProbability, double? RawLogProbability);

/// <summary>The log-probabilities of one decoding step: the chosen token and the most likely tokens, best first.</summary>
/// <param name="Chosen">The chosen token.</param>
/// <param name="Top">Up to the requested number of tokens the processed distribution can still produce, most likely first (lower id on ties).</param>
internal sealed record LogProbabilityReport(ScoredToken Chosen, IReadOnlyList<ScoredToken> Top);

/// <summary>What a step should report besides the token.</summary>
/// <param name="Top">How many most likely tokens to report, 0 or more.</param>
/// <param name="IncludeRaw">Whether to report log-probabilities under the raw logits too.</param>
internal readonly record struct LogProbabilityRequest(int Top, bool IncludeRaw);
