namespace LmHead.Extensions.Decoding;

/// <summary>The tokens a sequence has seen so far, for stages that penalise repetition.</summary>
public sealed class TokenHistory
{
    /// <summary>Creates a history.</summary>
    /// <param name="promptTokens">The prompt's token ids.</param>
    /// <param name="generatedTokens">The token ids generated so far.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public TokenHistory(IReadOnlyList<int> promptTokens, IReadOnlyList<int> generatedTokens)
    {
        ArgumentNullException.ThrowIfNull(promptTokens);
        ArgumentNullException.ThrowIfNull(generatedTokens);
        PromptTokens = promptTokens;
        GeneratedTokens = generatedTokens;
    }

    /// <summary>An empty history: penalties have nothing to do.</summary>
    public static TokenHistory Empty { get; } = new([], []);

    /// <summary>The prompt's token ids.</summary>
    public IReadOnlyList<int> PromptTokens { get; }

    /// <summary>The token ids generated so far.</summary>
    public IReadOnlyList<int> GeneratedTokens { get; }

    /// <summary>The last <paramref name="window"/> tokens of prompt + generated (all of them when null).</summary>
    internal IEnumerable<int> AllTokens(int? window)
    {
        var all = PromptTokens.Concat(GeneratedTokens);
        int total = PromptTokens.Count + GeneratedTokens.Count;
        return window is { } w && w < total ? all.Skip(total - w) : all;
    }

    /// <summary>The last <paramref name="window"/> generated tokens (all of them when null).</summary>
    internal IEnumerable<int> Generated(int? window) =>
        window is { } w && w < GeneratedTokens.Count ? GeneratedTokens.Skip(GeneratedTokens.Count - w) : GeneratedTokens;
}
