using System.Text.RegularExpressions;
using LmHead.Extensions.Tokenization;
using Microsoft.ML.Tokenizers;

namespace LmHead.Extensions.Generation;

/// <summary>
/// Encodes user-supplied text. By default the literal text of a special token (GPT-2's <c>&lt;|endoftext|&gt;</c>) is
/// encoded as the plain characters it is made of, as OpenAI's tiktoken does with <c>encode_ordinary</c>, so a prompt
/// cannot inject an end-of-text or other control token; <see cref="GenerationOptions.AllowSpecialTokensInPrompt"/>
/// turns that off.
/// </summary>
/// <remarks>
/// Microsoft.ML.Tokenizers' <see cref="TiktokenTokenizer"/> finds special tokens in its pre-tokenizer and offers no
/// switch to ignore them. Plain-text encoding therefore pre-tokenizes with GPT-2's own pattern (the one
/// <c>TiktokenTokenizer</c> uses for <c>gpt2</c>, documented as <c>P50kBaseRegex</c>), which has no special-token
/// alternation, and encodes each piece without pre-tokenization. Text without a special token takes the tokenizer's
/// own path unchanged.
/// </remarks>
internal static partial class PromptEncoding
{
    /// <summary>Encodes <paramref name="text"/>, treating special-token text as plain text unless <paramref name="allowSpecialTokens"/>.</summary>
    public static int[] Encode(Tokenizer tokenizer, string text, bool allowSpecialTokens) =>
        allowSpecialTokens || !ContainsSpecialToken(tokenizer, text) ? [.. tokenizer.EncodeToIds(text)] : EncodePlain(tokenizer, text);

    /// <summary>Encodes <paramref name="text"/> as plain text: special-token text becomes the tokens of its characters.</summary>
    internal static int[] EncodePlain(Tokenizer tokenizer, string text)
    {
        if (tokenizer is SentencePieceBpeTokenizer sentencePiece)
        {
            return [.. sentencePiece.Encode(text, splitAddedTokens: false).Select(t => t.Id)];
        }

        if (SentencePieceModel.EncodePlain(tokenizer, text) is { } twin)
        {
            return twin; // a tokenizer.model: its twin that recognises no special token
        }

        var ids = new List<int>(text.Length / 3);
        if (tokenizer.PreTokenizer is AddedTokenPreTokenizer own)
        {
            // A tokenizer.json tokenizer: its own pre-tokenizer chain without the added-token cut, after its normalizer.
            string normalized = tokenizer.Normalizer?.Normalize(text) ?? text;
            foreach (var (offset, length) in own.PlainPieces(normalized))
            {
                ids.AddRange(tokenizer.EncodeToIds(normalized.AsSpan(offset, length), considerPreTokenization: false, considerNormalization: false));
            }

            return [.. ids];
        }

        foreach (var piece in Gpt2Pieces().EnumerateMatches(text))
        {
            ids.AddRange(tokenizer.EncodeToIds(text.AsSpan(piece.Index, piece.Length), considerPreTokenization: false, considerNormalization: false));
        }

        return [.. ids];
    }

    /// <summary>The special tokens a tokenizer recognises inside text, or an empty map.</summary>
    internal static IReadOnlyDictionary<string, int> SpecialTokens(Tokenizer tokenizer) => tokenizer switch
    {
        TiktokenTokenizer tiktoken => tiktoken.SpecialTokens ?? Empty,
        CodeGenTokenizer codeGen => codeGen.SpecialTokens ?? Empty,
        BpeTokenizer bpe => bpe.SpecialTokens ?? Empty,
        SentencePieceBpeTokenizer sentencePiece => sentencePiece.SpecialTokens,
        SentencePieceTokenizer sentencePieceModel => sentencePieceModel.SpecialTokens ?? Empty,
        _ => Empty,
    };

    private static readonly IReadOnlyDictionary<string, int> Empty = new Dictionary<string, int>();

    private static bool ContainsSpecialToken(Tokenizer tokenizer, string text)
    {
        foreach (string special in SpecialTokens(tokenizer).Keys)
        {
            if (special.Length > 0 && text.Contains(special, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    // GPT-2's pre-tokenization (r50k/p50k), as Microsoft.ML.Tokenizers 2.0 documents TiktokenTokenizer.P50kBaseRegex.
    [GeneratedRegex(@"'(?:[sdmt]|ll|ve|re)| ?(?>\p{L}+)| ?(?>\p{N}+)| ?(?>[^\s\p{L}\p{N}]+)|(?>\s+)$|\s+(?!\S)|\s", RegexOptions.CultureInvariant)]
    private static partial Regex Gpt2Pieces();
}
