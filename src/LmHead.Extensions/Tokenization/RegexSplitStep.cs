using System.Text.RegularExpressions;

namespace LmHead.Extensions.Tokenization;

/// <summary>
/// Hugging Face's <c>Split</c> pre-tokenizer (and the regex of <c>ByteLevel</c> with <c>use_regex</c>): every match of
/// the pattern is a piece; the text between matches is a piece too (<c>Isolated</c>) or dropped (<c>Removed</c>).
/// </summary>
internal sealed class RegexSplitStep(Regex pattern, bool removeMatches) : PreTokenizerStep
{
    /// <summary>GPT-2's pre-tokenization pattern, which <c>ByteLevel</c> applies when <c>use_regex</c> is true.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>The pattern.</summary>
    public Regex Pattern { get; } = pattern;

    /// <inheritdoc/>
    public override void Split(string text, int start, int length, List<(int Offset, int Length)> pieces)
    {
        int end = start + length, position = start;
        foreach (var match in Pattern.EnumerateMatches(text.AsSpan(start, length)))
        {
            int matchStart = start + match.Index;
            if (match.Length == 0)
            {
                continue;
            }

            if (matchStart > position)
            {
                pieces.Add((position, matchStart - position));
            }

            if (!removeMatches)
            {
                pieces.Add((matchStart, match.Length));
            }

            position = matchStart + match.Length;
        }

        if (end > position)
        {
            pieces.Add((position, end - position));
        }
    }
}
