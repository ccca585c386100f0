using LmHead.Extensions.Generation;

namespace LmHead.Extensions.Server.OpenAi;

/// <summary>
/// A piece of a completion as both endpoints produce it (from a chat update or a generation chunk): its text, its tokens'
/// log-probabilities and, on the last piece, the finish reason (<c>stop</c> or <c>length</c>) and token counts.
/// </summary>
internal sealed record CompletionPiece(
    string Text, IReadOnlyList<TokenLogProbability> LogProbabilities, string? FinishReason, int PromptTokens, int CompletionTokens);
