using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace LmHead.Extensions.Tokenization;

/// <summary>
/// The pre-tokenizer of a <c>tokenizer.json</c>: the added tokens (<c>&lt;|im_start|&gt;</c>, <c>&lt;|eot_id|&gt;</c>,
/// ...) are cut out first, each as one piece that the BPE model maps to its id, and the text between them goes through
/// the file's pre-tokenizer steps in order (each step splits every piece of the previous one), as Hugging Face's
/// tokenizers do.
/// </summary>
/// <remarks>
/// Microsoft.ML.Tokenizers' <see cref="RegexPreTokenizer"/> takes one pattern; the files of SmolLM2 (<c>Digits</c> then
/// <c>ByteLevel</c>) and others chain several, hence this class.
/// </remarks>
internal sealed class AddedTokenPreTokenizer : PreTokenizer
{
    private readonly PreTokenizerStep[] _steps;
    private readonly Regex? _addedTokens;

    /// <summary>Creates the pre-tokenizer.</summary>
    /// <param name="steps">The steps, applied in order.</param>
    /// <param name="addedTokens">The texts to cut out whole before the steps run.</param>
    public AddedTokenPreTokenizer(IEnumerable<PreTokenizerStep> steps, IEnumerable<string> addedTokens)
    {
        _steps = [.. steps];
        // Longest first, so that a token that starts another one does not win (Hugging Face matches the longest).
        string[] alternatives = [.. addedTokens.Where(t => t.Length > 0).OrderByDescending(t => t.Length).ThenBy(t => t, StringComparer.Ordinal).Select(Regex.Escape)];
        _addedTokens = alternatives.Length == 0 ? null : new Regex(string.Join('|', alternatives), RegexOptions.CultureInvariant);
    }

    /// <inheritdoc/>
    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) => Pieces(text ?? string.Empty, withAddedTokens: true);

    /// <inheritdoc/>
    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => Pieces(text.ToString(), withAddedTokens: true);

    /// <summary>The pieces of <paramref name="text"/> when added-token text is plain text (split by the steps only).</summary>
    public IReadOnlyList<(int Offset, int Length)> PlainPieces(string text) => Pieces(text, withAddedTokens: false);

    private List<(int Offset, int Length)> Pieces(string text, bool withAddedTokens)
    {
        var result = new List<(int Offset, int Length)>();
        if (!withAddedTokens || _addedTokens is null)
        {
            SplitBySteps(text, 0, text.Length, result);
            return result;
        }

        int position = 0;
        foreach (var match in _addedTokens.EnumerateMatches(text))
        {
            SplitBySteps(text, position, match.Index - position, result);
            result.Add((match.Index, match.Length));
            position = match.Index + match.Length;
        }

        SplitBySteps(text, position, text.Length - position, result);
        return result;
    }

    private void SplitBySteps(string text, int start, int length, List<(int Offset, int Length)> result)
    {
        if (length == 0)
        {
            return;
        }

        var pieces = new List<(int Offset, int Length)> { (start, length) };
        foreach (var step in _steps)
        {
            var next = new List<(int Offset, int Length)>(pieces.Count * 2);
            foreach (var (offset, pieceLength) in pieces)
            {
                step.Split(text, offset, pieceLength, next);
            }

            pieces = next;
        }

        result.AddRange(pieces);
    }
}
