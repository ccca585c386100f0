namespace LmHead.Extensions.Decoding.Grammar;

/// <summary>
/// A description of the shape the generated text must have: any JSON, JSON matching a schema, or text matching a
/// regular expression. Immutable and compared by value; <see cref="CompiledGrammar.For"/> compiles it once and reuses
/// the result for every request with an equal constraint.
/// </summary>
public sealed record OutputConstraint
{
    /// <summary>The default <see cref="MaxWhitespace"/>: one byte between JSON tokens, enough for <c>{"a": 1, "b": 2}</c>.</summary>
    public const int DefaultMaxWhitespace = 1;

    /// <summary>The largest <see cref="MaxWhitespace"/> allowed.</summary>
    public const int MaxWhitespaceLimit = 16;

    private OutputConstraint(OutputConstraintKind kind, string? text, int maxWhitespace)
    {
        if (maxWhitespace is < 0 or > MaxWhitespaceLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(maxWhitespace), maxWhitespace, $"maxWhitespace must be 0 to {MaxWhitespaceLimit}, but was {maxWhitespace}.");
        }

        Kind = kind;
        Text = text;
        MaxWhitespace = maxWhitespace;
    }

    /// <summary>What the constraint holds the output to.</summary>
    public OutputConstraintKind Kind { get; }

    /// <summary>The JSON schema (for <see cref="OutputConstraintKind.JsonSchema"/>) or the pattern (for <see cref="OutputConstraintKind.Regex"/>); <see langword="null"/> for <see cref="OutputConstraintKind.Json"/>.</summary>
    public string? Text { get; }

    /// <summary>
    /// How many white-space bytes (space, tab, newline, carriage return) JSON may have between two tokens. Bounded so a
    /// model cannot loop on white space forever; no white space before or after the value.
    /// </summary>
    public int MaxWhitespace { get; }

    /// <summary>Any JSON value.</summary>
    /// <param name="maxWhitespace">White-space bytes allowed between tokens, 0 to <see cref="MaxWhitespaceLimit"/>.</param>
    /// <returns>The constraint.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxWhitespace"/> is out of range.</exception>
    public static OutputConstraint Json(int maxWhitespace = DefaultMaxWhitespace) => new(OutputConstraintKind.Json, null, maxWhitespace);

    /// <summary>A JSON value valid against <paramref name="schema"/>.</summary>
    /// <param name="schema">The JSON schema text.</param>
    /// <param name="maxWhitespace">White-space bytes allowed between tokens, 0 to <see cref="MaxWhitespaceLimit"/>.</param>
    /// <returns>The constraint (the schema is compiled, and checked, by <see cref="CompiledGrammar.For"/>).</returns>
    /// <exception cref="ArgumentException"><paramref name="schema"/> is null or white space.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxWhitespace"/> is out of range.</exception>
    public static OutputConstraint JsonSchema(string schema, int maxWhitespace = DefaultMaxWhitespace)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(schema);
        return new(OutputConstraintKind.JsonSchema, schema, maxWhitespace);
    }

    /// <summary>Text that <paramref name="pattern"/> matches whole.</summary>
    /// <param name="pattern">The regular expression (a .NET subset; anchors implied).</param>
    /// <returns>The constraint.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="pattern"/> is null.</exception>
    public static OutputConstraint Regex(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        return new(OutputConstraintKind.Regex, pattern, 0);
    }
}
