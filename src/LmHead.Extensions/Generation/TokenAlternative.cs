namespace LmHead.Extensions.Generation;

/// <summary>One of the most likely tokens at a step, with its log-probability under the model's distribution.</summary>
/// <param name="TokenId">The token id.</param>
/// <param name="Text">The token decoded on its own (may hold U+FFFD for a partial UTF-8 character).</param>
/// <param name="LogProbability">The natural log of its probability under softmax of the raw logits.</param>
public sealed record TokenAlternative(int TokenId, string Text, double LogProbability);
