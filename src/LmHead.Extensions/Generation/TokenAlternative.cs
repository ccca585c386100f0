namespace LmHead.Extensions.Generation;

/// <summary>One of the most likely tokens at a step.</summary>
/// <param name="TokenId">The token id.</param>
/// <param name="Text">The token decoded on its own (may hold U+FFFD for a partial UTF-8 character).</param>
/// <param name="LogProbability">The natural log of its probability under the processed distribution (-infinity when filtered out).</param>
/// <param name="RawLogProbability">Its log-probability under the raw logits, when raw log-probabilities were requested.</param>
public sealed record TokenAlternative(int TokenId, string Text, double LogProbability, double? RawLogProbability = null);
