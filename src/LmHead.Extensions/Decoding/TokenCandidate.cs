namespace LmHead.Extensions.Decoding;

/// <summary>One candidate for the next token, as the head saw it.</summary>
/// <param name="TokenId">The token id.</param>
/// <param name="RawLogit">The logit before any stage.</param>
/// <param name="ProcessedLogit">The logit after every stage (-infinity when a filter removed the token).</param>
/// <param name="Probability">The probability under the processed distribution (0 when removed).</param>
public readonly record struct TokenCandidate(int TokenId, float RawLogit, float ProcessedLogit, float Probability);
