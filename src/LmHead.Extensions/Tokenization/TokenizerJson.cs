using System.Text;
using System.Text.Json;
using LmHead.Extensions.Models;
using Microsoft.ML.Tokenizers;

namespace LmHead.Extensions.Tokenization;

/// <summary>
/// Reads a Hugging Face <c>tokenizer.json</c> into a Microsoft.ML.Tokenizers <see cref="Tokenizer"/>: the byte-level
/// BPE files of GPT-2, Qwen2/2.5, SmolLM2 and Llama 3.x, with their pre-tokenizer chains and added tokens, and the
/// SentencePiece-style BPE files (byte fallback) of Llama 2, TinyLlama and Mistral.
/// </summary>
/// <remarks>
/// <para>The model is Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> (byte-level, merges as the file lists them).
/// A file with <c>"ignore_merges": true</c> (Llama 3) looks a whole pre-tokenized word up in the vocabulary before
/// merging, which is tiktoken's rule and which <see cref="BpeTokenizer"/> does not do, so such a file becomes a
/// <see cref="TiktokenTokenizer"/> over the same vocabulary (its merge order is the id order, checked on load).</para>
/// <para>Every added token (special or not) is cut out of the text first and encodes as its single id, as in Hugging
/// Face's tokenizers, so a rendered chat template's <c>&lt;|im_start|&gt;</c> is one token; it decodes back to its
/// text. The <c>post_processor</c> (Llama 3's automatic <c>&lt;|begin_of_text|&gt;</c>) is not part of the tokenizer:
/// <see cref="Models.PretrainedModel.PromptPrefixTokenIds"/> reads it, and the generator puts it before plain prompts
/// (chat templates write the BOS token themselves).</para>
/// <para>A file with <c>"byte_fallback": true</c>, a <c>Prepend</c>/<c>Replace</c> normalizer or a <c>Metaspace</c>
/// pre-tokenizer is SentencePiece-style: spaces spelled <c>▁</c>, a <c>▁</c> prepended, characters outside the
/// vocabulary spelled as <c>&lt;0xNN&gt;</c> byte tokens. Microsoft.ML.Tokenizers 2.0 has no BPE with byte fallback
/// over a <c>tokenizer.json</c>, so such a file becomes a tokenizer of this library written from Hugging Face's
/// definitions (docs/chat-templates.md).</para>
/// <para>Not supported, each a <see cref="ModelFormatException"/> naming the JSON path and value: models other than
/// BPE, byte-level files without a <c>ByteLevel</c> pre-tokenizer, pre-tokenizers other than ByteLevel/Split/Digits
/// (Metaspace in SentencePiece-style files), normalizers other than Unicode normal forms (Prepend/Replace in
/// SentencePiece-style files), BPE dropout and added tokens with <c>lstrip</c>/<c>rstrip</c>/<c>single_word</c>.</para>
/// </remarks>
public static class TokenizerJson
{
    /// <summary>The file name Hugging Face uses: <c>tokenizer.json</c>.</summary>
    public const string FileName = "tokenizer.json";

    /// <summary>Loads a <c>tokenizer.json</c> file.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The tokenizer; thread-safe for encoding and decoding.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="ModelFormatException">The file is missing, not a regular file, larger than 256 MiB, not JSON,
    /// or uses a feature this library does not read; the message names the JSON path and value.</exception>
    public static Tokenizer Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!ModelFile.IsPresent(path))
        {
            throw new ModelFormatException(path, null, "the file does not exist.");
        }

        return Parse(ModelFile.ReadAllBytes(path, ModelFile.MaxTokenizerBytes), path);
    }

    /// <summary>Reads the UTF-8 JSON text of a <c>tokenizer.json</c>.</summary>
    /// <param name="utf8Json">The file's content.</param>
    /// <param name="sourceName">The name errors give the source (a path, or <see cref="FileName"/>).</param>
    /// <returns>The tokenizer.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="sourceName"/> is null.</exception>
    /// <exception cref="ModelFormatException">The text is not JSON or uses a feature this library does not read.</exception>
    public static Tokenizer Parse(ReadOnlySpan<byte> utf8Json, string sourceName = FileName)
    {
        ArgumentNullException.ThrowIfNull(sourceName);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8Json.ToArray(), new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException ex)
        {
            throw new ModelFormatException(sourceName, null, $"the file is not valid JSON: {ex.Message}", ex);
        }

        using (document)
        {
            return new TokenizerJsonReader(sourceName).Read(document.RootElement);
        }
    }

    /// <summary>Reads a <c>tokenizer.json</c> given as a string.</summary>
    /// <param name="json">The file's content.</param>
    /// <param name="sourceName">The name errors give the source.</param>
    /// <returns>The tokenizer.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ModelFormatException">The text is not JSON or uses a feature this library does not read.</exception>
    public static Tokenizer Parse(string json, string sourceName = FileName)
    {
        ArgumentNullException.ThrowIfNull(json);
        return Parse(Encoding.UTF8.GetBytes(json), sourceName);
    }
}
