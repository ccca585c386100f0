namespace LmHead.Extensions.Generation;

/// <summary>
/// A piece of a streamed generation: the text that became final since the previous chunk, the tokens behind it and, in
/// the last chunk, why generation ended and the token counts.
/// </summary>
public sealed record GenerationChunk
{
    /// <summary>Text that is final: complete UTF-8 characters, never part of a stop sequence. May be empty.</summary>
    public required string Text { get; init; }

    /// <summary>The token ids generated since the previous chunk.</summary>
    public required IReadOnlyList<int> TokenIds { get; init; }

    /// <summary>Per token of <see cref="TokenIds"/>, its log-probability; empty unless <see cref="GenerationOptions.IncludeLogProbabilities"/>.</summary>
    public IReadOnlyList<TokenLogProbability> LogProbabilities { get; init; } = [];

    /// <summary>Why generation ended, set on the last chunk only.</summary>
    public FinishReason? FinishReason { get; init; }

    /// <summary>How many tokens the prompt encoded to.</summary>
    public int PromptTokenCount { get; init; }

    /// <summary>How many tokens have been generated so far (including an end-of-text token or the tokens of a stop sequence).</summary>
    public int CompletionTokenCount { get; init; }
}
