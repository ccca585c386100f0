namespace LmHead.Extensions.Generation;

/// <summary>A generated token with its log-probability and, optionally, the most likely alternatives at that step.</summary>
/// <param name="TokenId">The generated token id.</param>
/// <param name="Text">The token decoded on its own (may hold U+FFFD for a partial UTF-8 character).</param>
/// <param name="LogProbability">
/// The natural log of its probability under the model's distribution (softmax of the raw logits, before temperature and
/// top-k), as OpenAI-style APIs report it.
/// </param>
/// <param name="TopAlternatives">The highest-probability tokens at this step, best first (empty unless requested).</param>
public sealed record TokenLogProbability(int TokenId, string Text, double LogProbability, IReadOnlyList<TokenAlternative> TopAlternatives);
