using System.Text.Json;
using LmHead.Extensions.Models;

namespace LmHead.Extensions.Tokenization;

/// <summary>
/// The token ids Hugging Face's tokenizer of a model folder puts before an encoded text (<c>add_special_tokens=True</c>):
/// the BOS token of Llama 2/3, TinyLlama and Mistral, nothing for GPT-2 and Qwen2.
/// </summary>
/// <remarks>
/// Read as <c>transformers</c> decides it: <c>add_bos_token</c> of <c>tokenizer_config.json</c> when the file sets it
/// (<c>LlamaTokenizerFast</c> rebuilds its post-processor from it), else the leading special tokens of the
/// <c>TemplateProcessing</c> post-processor of <c>tokenizer.json</c> (alone or inside a <c>Sequence</c>), else, for a
/// folder whose only tokenizer is <c>tokenizer.model</c>, the BOS token (<c>LlamaTokenizer</c>'s default
/// <c>add_bos_token=True</c>). Other post-processors (<c>ByteLevel</c>, <c>RobertaProcessing</c>, ...) add nothing.
/// </remarks>
internal static class PromptPrefix
{
    /// <summary>Reads the prefix of a folder.</summary>
    /// <param name="directory">The model folder.</param>
    /// <param name="bosTokenId">config.json's <c>bos_token_id</c>, or null.</param>
    /// <param name="vocabularySize">The model's vocabulary: every id of the prefix must be below it.</param>
    /// <returns>The ids, empty when the tokenizer adds nothing.</returns>
    /// <exception cref="ModelFormatException">A file is not JSON, <c>add_bos_token</c> is not a boolean, the BOS token
    /// is asked for but the folder names none, or an id is outside the vocabulary; the message names the file and key.</exception>
    internal static int[] Read(string directory, int? bosTokenId, int vocabularySize)
    {
        string tokenizerJson = Path.Combine(directory, TokenizerJson.FileName);
        string tokenizerConfig = Path.Combine(directory, Chat.ChatModelMetadata.TokenizerConfigFileName);
        int[]? prefix = null;
        if (ModelFile.IsPresent(tokenizerConfig))
        {
            using var document = Parse(tokenizerConfig);
            if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("add_bos_token", out var add))
            {
                prefix = add.ValueKind switch
                {
                    JsonValueKind.True => [bosTokenId ?? throw new ModelFormatException(tokenizerConfig, "add_bos_token", "add_bos_token is true but config.json has no bos_token_id.")],
                    JsonValueKind.False or JsonValueKind.Null => [],
                    _ => throw new ModelFormatException(tokenizerConfig, "add_bos_token", $"add_bos_token must be true or false, but is {add.GetRawText()}."),
                };
            }
        }

        if (prefix is null)
        {
            prefix = LlamaPretrained.FindTokenizerSource(directory) switch
            {
                LlamaPretrained.TokenizerSource.TokenizerJson => ReadPostProcessor(tokenizerJson),
                LlamaPretrained.TokenizerSource.SentencePieceModel when bosTokenId is { } bos => [bos],
                _ => [],
            };
        }

        foreach (int id in prefix)
        {
            if (id < 0 || id >= vocabularySize)
            {
                throw new ModelFormatException(directory, "post_processor",
                    $"the tokenizer puts token id {id} before every text, outside the model's vocabulary of {vocabularySize} tokens.");
            }
        }

        return prefix;
    }

    /// <summary>
    /// The prefix of <c>tokenizer.json</c>'s <c>post_processor</c>. Only that value becomes a document: the rest of the
    /// file (the vocabulary and merges, megabytes for Qwen2 or Llama 3) is skipped by the reader, not parsed into a DOM
    /// a second time after the tokenizer loader has read it.
    /// </summary>
    private static int[] ReadPostProcessor(string path)
    {
        ModelFile.RequireRegularFile(path);
        byte[] bytes = ModelFile.ReadAllBytes(path, ModelFile.MaxTokenizerBytes);
        try
        {
            var reader = new Utf8JsonReader(bytes);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return [];
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool wanted = reader.ValueTextEquals("post_processor"u8);
                reader.Read();
                if (wanted)
                {
                    using var processor = JsonDocument.ParseValue(ref reader);
                    return FromPostProcessor(processor.RootElement, path);
                }

                reader.Skip();
            }

            return [];
        }
        catch (JsonException ex)
        {
            throw new ModelFormatException(path, null, $"the file is not valid JSON: {ex.Message}", ex);
        }
    }

    // {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", ...}}],
    //  "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}, possibly inside {"type": "Sequence", "processors": [...]}.
    private static int[] FromPostProcessor(JsonElement processor, string path)
    {
        if (processor.ValueKind != JsonValueKind.Object || !processor.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
        {
            return [];
        }

        if (type.GetString() == "Sequence" && processor.TryGetProperty("processors", out var processors) && processors.ValueKind == JsonValueKind.Array)
        {
            return [.. processors.EnumerateArray().SelectMany(p => FromPostProcessor(p, path))];
        }

        if (type.GetString() != "TemplateProcessing" || !processor.TryGetProperty("single", out var single) || single.ValueKind != JsonValueKind.Array)
        {
            return [];
        }

        var ids = new List<int>();
        foreach (var piece in single.EnumerateArray())
        {
            if (piece.ValueKind != JsonValueKind.Object || !piece.TryGetProperty("SpecialToken", out var special))
            {
                break; // the text ("Sequence") comes next: what follows it is a suffix
            }

            string? name = special.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null;
            if (name is null || !processor.TryGetProperty("special_tokens", out var table) || !table.TryGetProperty(name, out var entry)
                || !entry.TryGetProperty("ids", out var entryIds) || entryIds.ValueKind != JsonValueKind.Array)
            {
                throw new ModelFormatException(path, "post_processor.special_tokens",
                    $"the post-processor's template puts the special token {special.GetRawText()} before the text, but special_tokens gives no ids for it.");
            }

            foreach (var value in entryIds.EnumerateArray())
            {
                ids.Add(value.TryGetInt32(out int parsed) ? parsed
                    : throw new ModelFormatException(path, $"post_processor.special_tokens.{name}.ids", $"ids must be integers, but one is {value.GetRawText()}."));
            }
        }

        return [.. ids];
    }

    private static JsonDocument Parse(string path)
    {
        ModelFile.RequireRegularFile(path);
        try
        {
            return JsonDocument.Parse(ModelFile.ReadAllBytes(path, ModelFile.MaxTokenizerBytes));
        }
        catch (JsonException ex)
        {
            throw new ModelFormatException(path, null, $"the file is not valid JSON: {ex.Message}", ex);
        }
    }
}
