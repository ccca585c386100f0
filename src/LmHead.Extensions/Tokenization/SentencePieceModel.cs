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
            return Create(bytes, special);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or FormatException or NotSupportedException or IOException
                                   or Google.Protobuf.InvalidProtocolBufferException)
        {
            throw new ModelFormatException(path, null, $"Microsoft.ML.Tokenizers could not read it as a SentencePiece BPE model: {ex.Message}", ex);
        }
    }

    private static LlamaTokenizer Create(byte[] bytes, IReadOnlyDictionary<string, int>? special)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        return LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false, specialTokens: special);
    }
}
