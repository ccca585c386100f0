using Microsoft.ML.Tokenizers;

namespace LmHead.Extensions.Tokenization;

/// <summary>
/// Which token ids a tokenizer can decode. Microsoft.ML.Tokenizers decodes an id it does not know to nothing (an empty
/// string), so every id → text spot checks here first and reports the id instead of returning text with a hole.
/// </summary>
internal static class TokenizerVocabulary
{
    /// <summary>
    /// Throws when <paramref name="tokenizer"/> cannot decode <paramref name="id"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The id is negative or not in the tokenizer's vocabulary (message names the id and the vocabulary size).</exception>
    public static void RequireKnown(Tokenizer tokenizer, int id, string paramName)
    {
        if (!Knows(tokenizer, id))
        {
            int size = Size(tokenizer);
            string vocabulary = $"its vocabulary has {size} tokens (ids 0 to {size - 1})";
            throw new ArgumentException(
                $"{paramName} holds token id {id}, which the tokenizer ({tokenizer.GetType().Name}) cannot decode: {vocabulary}. Is the tokenizer the one the model was trained with?",
                paramName);
        }
    }

    /// <summary>
    /// Whether the tokenizer can decode the id: every token of a vocabulary decodes to at least one character (byte-level
    /// BPE turns even a partial UTF-8 sequence into U+FFFD), while an unknown id decodes to nothing.
    /// </summary>
    public static bool Knows(Tokenizer tokenizer, int id) =>
        tokenizer is SentencePieceBpeTokenizer sentencePiece
            ? sentencePiece.Knows(id) // its "▁" token decodes to "" (the stripped leading space)
            : id >= 0 && (tokenizer.Decode([id]).Length > 0 || InTables(tokenizer, id));

    /// <summary>
    /// The rare id that decodes to nothing although it is in the tokenizer's tables (a special token a tokenizer's
    /// Decode leaves out): looked up in the public tables, only on that path.
    /// </summary>
    private static bool InTables(Tokenizer tokenizer, int id) => tokenizer switch
    {
        TiktokenTokenizer tiktoken => tiktoken.SpecialTokens?.Values.Contains(id) == true,
        CodeGenTokenizer codeGen => codeGen.Vocabulary.Values.Contains(id) || codeGen.SpecialTokens?.Values.Contains(id) == true,
        BpeTokenizer bpe => bpe.Vocabulary.Values.Contains(id) || bpe.SpecialTokens?.Values.Contains(id) == true,
        SentencePieceTokenizer sentencePiece => sentencePiece.Vocabulary.Values.Contains(id),
        _ => false,
    };

    /// <summary>
    /// The tokenizer's vocabulary size, for messages: the first id it cannot decode, found by doubling then bisection (ids
    /// of the tokenizers this library loads are contiguous from 0; Microsoft.ML.Tokenizers has no common size property).
    /// </summary>
    public static int Size(Tokenizer tokenizer)
    {
        if (!Knows(tokenizer, 0))
        {
            return 0;
        }

        int known = 0, unknown = 1;
        while (Knows(tokenizer, unknown))
        {
            known = unknown;
            if (unknown >= int.MaxValue / 2)
            {
                return int.MaxValue;
            }

            unknown *= 2;
        }

        while (unknown - known > 1)
        {
            int middle = known + ((unknown - known) / 2);
            (known, unknown) = Knows(tokenizer, middle) ? (middle, unknown) : (known, middle);
        }

        return unknown;
    }
}
