using System.Runtime.CompilerServices;
using LmHead.Extensions.Models;
using Microsoft.ML.Tokenizers;

namespace LmHead.Extensions.Tokenization;

/// <summary>
/// Reads a SentencePiece <c>tokenizer.model</c> (the protobuf of Llama 2, TinyLlama and Mistral checkpoints that ship no
/// <c>tokenizer.json</c>) through Microsoft.ML.Tokenizers' <see cref="LlamaTokenizer"/>.
/// </summary>
/// <remarks>
/// The tokenizer adds no BOS token of its own (chat templates and callers write <c>&lt;s&gt;</c>), and the BOS and EOS
/// texts are recognised in text as their single ids, as in Hugging Face's tokenizers. Encoding and decoding follow
/// Microsoft.ML.Tokenizers' SentencePiece implementation; a folder with a <c>tokenizer.json</c> uses that file instead.
/// The generator encodes user prompts with a twin of the tokenizer that recognises no special token (SentencePiece's
/// own rule: control symbols never match text), so <c>&lt;s&gt;</c> typed by a user stays plain text unless
/// <c>GenerationOptions.AllowSpecialTokensInPrompt</c> is set.
/// </remarks>
public static class SentencePieceModel
{
    /// <summary>The file name Hugging Face uses: <c>tokenizer.model</c>.</summary>
    public const string FileName = "tokenizer.model";

    /// <summary>Loads a <c>tokenizer.model</c> file.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The tokenizer.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="ModelFormatException">The file is missing, larger than 256 MiB, or not a SentencePiece BPE model Microsoft.ML.Tokenizers reads.</exception>
    public static Tokenizer Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!ModelFile.IsPresent(path))
        {
            throw new ModelFormatException(path, null, "the file does not exist.");
        }

        byte[] bytes = ModelFile.ReadAllBytes(path, ModelFile.MaxTokenizerBytes);
        try
        {
            // First pass to learn the BOS/EOS pieces, second to have them recognised in text.
            LlamaTokenizer probe = Create(bytes, null);
            var special = new Dictionary<string, int>(StringComparer.Ordinal)
            {
                [probe.BeginningOfSentenceToken] = probe.BeginningOfSentenceId,
                [probe.EndOfSentenceToken] = probe.EndOfSentenceId,
            };
            LlamaTokenizer tokenizer = Create(bytes, special);
            PlainTwins.Add(tokenizer, probe);
            return tokenizer;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or FormatException or NotSupportedException or IOException
                                   or Google.Protobuf.InvalidProtocolBufferException)
        {
            throw new ModelFormatException(path, null, $"Microsoft.ML.Tokenizers could not read it as a SentencePiece BPE model: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Encodes <paramref name="text"/> with no special token recognised, when <paramref name="tokenizer"/> came from
    /// <see cref="Load"/>; <see langword="null"/> for a tokenizer made elsewhere (its twin is not known).
    /// </summary>
    internal static int[]? EncodePlain(Tokenizer tokenizer, string text) =>
        tokenizer is LlamaTokenizer llama && PlainTwins.TryGetValue(llama, out var plain) ? [.. plain.EncodeToIds(text)] : null;

    // Each loaded tokenizer's twin without special tokens, for plain-text prompts. Keyed weakly: an entry lives exactly as
    // long as its tokenizer (LlamaTokenizer is sealed and offers no switch to ignore its special tokens per call).
    private static readonly ConditionalWeakTable<LlamaTokenizer, LlamaTokenizer> PlainTwins = [];

    private static LlamaTokenizer Create(byte[] bytes, IReadOnlyDictionary<string, int>? special)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        return LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false, specialTokens: special);
    }
}
