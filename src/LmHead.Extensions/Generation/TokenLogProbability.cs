namespace LmHead.Extensions.Generation;

/// <summary>A generated token with its log-probability and, optionally, the most likely alternatives at that step.</summary>
/// <param name="TokenId">The generated token id.</param>
/// <param name="Text">The token decoded on its own (may hold U+FFFD for a partial UTF-8 character).</param>
/// <param name="LogProbability">
/// The natural log of its probability under the processed distribution the token was drawn from (after penalties,
/// bias, temperature, top-k, top-p and min-p), as vLLM's "processed" log-probabilities. Greedy decoding gives 0.
/// </param>
/// <param name="TopAlternatives">The most likely tokens under the processed distribution, best first (empty unless requested); tokens a filter removed are not listed, so there may be fewer than asked.</param>
/// <param name="RawLogProbability">
/// The natural log of its probability under the model's own distribution (softmax of the raw logits), when
/// <see cref="GenerationOptions.IncludeRawLogProbabilities"/> is set; otherwise <see langword="null"/>.
/// </param>
public sealed record TokenLogProbability(
    int TokenId, string Text, double LogProbability, IReadOnlyList<TokenAlternative> TopAlternatives, double? RawLogProbability = null);
