using System.Text.Json;
using LmHead.Extensions.Models;
using Microsoft.ML.Tokenizers;

namespace LmHead.Extensions.Chat;

/// <summary>
/// What a Hugging Face model folder says about chatting with the model: the chat template(s) of
/// <c>tokenizer_config.json</c> (or <c>chat_template.jinja</c>), its BOS and EOS tokens, and every token id that ends
/// a reply (<c>eos_token_id</c> of <c>generation_config.json</c> and <c>config.json</c>, an int or a list, plus the id
/// of <c>eos_token</c>).
/// </summary>
public sealed class ChatModelMetadata
{
    /// <summary>The tokenizer settings file: <c>tokenizer_config.json</c>.</summary>
    public const string TokenizerConfigFileName = "tokenizer_config.json";

    /// <summary>The generation defaults file: <c>generation_config.json</c>.</summary>
    public const string GenerationConfigFileName = "generation_config.json";

    /// <summary>The file newer <c>transformers</c> versions save the template in: <c>chat_template.jinja</c>.</summary>
    public const string ChatTemplateFileName = "chat_template.jinja";

    private const string ConfigFileName = "config.json";

    private ChatModelMetadata(IReadOnlyDictionary<string, ChatTemplate> templates, string? bosToken, string? eosToken, IReadOnlySet<int> endIds)
    {
        Templates = templates;
        BosToken = bosToken;
        EosToken = eosToken;
        EndOfSequenceTokenIds = endIds;
    }

    /// <summary>The folder's templates by name; a single <c>chat_template</c> string is named <c>"default"</c>.</summary>
    public IReadOnlyDictionary<string, ChatTemplate> Templates { get; }

    /// <summary>Whether the folder has a chat template.</summary>
    public bool HasChatTemplate => Templates.Count > 0;

    /// <summary>The <c>bos_token</c> text, or null.</summary>
    public string? BosToken { get; }

    /// <summary>The <c>eos_token</c> text, or null.</summary>
    public string? EosToken { get; }

    /// <summary>Every token id that ends generation.</summary>
    public IReadOnlySet<int> EndOfSequenceTokenIds { get; }

    /// <summary>
    /// The template to render with: <c>"tool_use"</c> when tools are given and the folder has one, else
    /// <c>"default"</c> (or the only template), or null when the folder has none.
    /// </summary>
    /// <param name="withTools">Whether the conversation offers tools.</param>
    /// <returns>The template, or null.</returns>
    public ChatTemplate? SelectTemplate(bool withTools) =>
        withTools && Templates.TryGetValue("tool_use", out var toolUse) ? toolUse
        : Templates.TryGetValue("default", out var fallback) ? fallback
        : Templates.Count == 1 ? Templates.Values.First()
        : null;

    /// <summary>Reads a model folder's chat metadata; absent files mean no template and no extra end ids.</summary>
    /// <param name="directory">The model folder.</param>
    /// <param name="tokenizer">The model's tokenizer, used to find the id of <c>eos_token</c>; null to skip that.</param>
    /// <returns>The metadata.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="directory"/> is null.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="ModelFormatException">A file is not JSON, a key has the wrong type, or a chat template uses a
    /// construct this library does not support; the message names the file and key.</exception>
    public static ChatModelMetadata Load(string directory, Tokenizer? tokenizer = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"The model folder '{directory}' does not exist.");
        }

        var templates = new Dictionary<string, ChatTemplate>(StringComparer.Ordinal);
        string? bos = null, eos = null;
        var endIds = new SortedSet<int>();
        string tokenizerConfig = Path.Combine(directory, TokenizerConfigFileName);
        if (ModelFile.IsPresent(tokenizerConfig))
        {
            using var document = ReadJson(tokenizerConfig);
            var root = document.RootElement;
            bos = TokenText(root, "bos_token", tokenizerConfig);
            eos = TokenText(root, "eos_token", tokenizerConfig);
            if (root.TryGetProperty("chat_template", out var template))
            {
                ReadTemplates(template, tokenizerConfig, templates);
            }
        }

        string templateFile = Path.Combine(directory, ChatTemplateFileName);
        if (!templates.ContainsKey("default") && ModelFile.IsPresent(templateFile))
        {
            ModelFile.RequireRegularFile(templateFile);
            string text = System.Text.Encoding.UTF8.GetString(ModelFile.ReadAllBytes(templateFile, ModelFile.MaxConfigBytes));
            templates["default"] = ParseTemplate(text, templateFile, null);
        }

        foreach (string name in (string[])[GenerationConfigFileName, ConfigFileName])
        {
            string path = Path.Combine(directory, name);
            if (ModelFile.IsPresent(path))
            {
                using var document = ReadJson(path);
                AddIds(document.RootElement, "eos_token_id", path, endIds);
            }
        }

        if (eos is not null && tokenizer is not null && tokenizer.EncodeToIds(eos) is [int eosId])
        {
            endIds.Add(eosId);
        }

        return new ChatModelMetadata(templates, bos, eos, endIds);
    }

    private static JsonDocument ReadJson(string path)
    {
        ModelFile.RequireRegularFile(path);
        byte[] bytes = ModelFile.ReadAllBytes(path, ModelFile.MaxTokenizerBytes);
        try
        {
            var document = JsonDocument.Parse(bytes);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                document.Dispose();
                throw new ModelFormatException(path, null, "the file must hold a JSON object.");
            }

            return document;
        }
        catch (JsonException ex)
        {
            throw new ModelFormatException(path, null, $"the file is not valid JSON: {ex.Message}", ex);
        }
    }

    // "eos_token": "</s>" or {"content": "</s>", ...} (older files) or null.
    private static string? TokenText(JsonElement root, string key, string path)
    {
        if (!root.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Object when value.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String => content.GetString(),
            _ => throw new ModelFormatException(path, key, $"{key} must be a string, an object with a string \"content\", or null, but is {value.GetRawText()}."),
        };
    }

    // "chat_template": "..." or [{"name": "default", "template": "..."}, {"name": "tool_use", ...}].
    private static void ReadTemplates(JsonElement value, string path, Dictionary<string, ChatTemplate> templates)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Null:
                return;
            case JsonValueKind.String:
                templates["default"] = ParseTemplate(value.GetString()!, path, "chat_template");
                return;
            case JsonValueKind.Array:
                int i = 0;
                foreach (var entry in value.EnumerateArray())
                {
                    string key = $"chat_template[{i++}]";
                    if (entry.ValueKind != JsonValueKind.Object
                        || !entry.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String
                        || !entry.TryGetProperty("template", out var text) || text.ValueKind != JsonValueKind.String)
                    {
                        throw new ModelFormatException(path, key, $"{key} must be an object with string \"name\" and \"template\", but is {entry.GetRawText()}.");
                    }

                    templates[name.GetString()!] = ParseTemplate(text.GetString()!, path, $"{key}.template");
                }

                return;
            default:
                throw new ModelFormatException(path, "chat_template", $"chat_template must be a string or a list of {{name, template}} objects, but is {value.ValueKind}.");
        }
    }

    private static ChatTemplate ParseTemplate(string text, string path, string? key)
    {
        try
        {
            return ChatTemplate.Parse(text);
        }
        catch (ChatTemplateException ex)
        {
            throw new ModelFormatException(path, key, $"the chat template cannot be used: {ex.Message}", ex);
        }
    }

    private static void AddIds(JsonElement root, string key, string path, SortedSet<int> ids)
    {
        if (!root.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        IEnumerable<JsonElement> items = value.ValueKind == JsonValueKind.Array ? value.EnumerateArray() : [value];
        foreach (var item in items)
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out int id) || id < 0)
            {
                throw new ModelFormatException(path, key, $"{key} must be a non-negative integer or a list of them, but is {value.GetRawText()}.");
            }

            ids.Add(id);
        }
    }
}
