namespace LmHead.Extensions.Generation;

/// <summary>The outcome of a non-streaming generation.</summary>
public sealed record GenerationResult
{
    /// <summary>The generated text, without the prompt, a stop sequence or the end-of-text token.</summary>
    public required string Text { get; init; }

    /// <summary>Why generation ended.</summary>
    public required FinishReason FinishReason { get; init; }

    /// <summary>Every generated token id, in order (including an end-of-text token or the tokens of a stop sequence).</summary>
    public required IReadOnlyList<int> TokenIds { get; init; }

    /// <summary>Per generated token, its log-probability; empty unless <see cref="GenerationOptions.IncludeLogProbabilities"/>.</summary>
    public IReadOnlyList<TokenLogProbability> LogProbabilities { get; init; } = [];

    /// <summary>How many tokens the prompt encoded to.</summary>
    public required int PromptTokenCount { get; init; }

    /// <summary>How many tokens were generated.</summary>
    public required int CompletionTokenCount { get; init; }
}
