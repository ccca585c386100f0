using System.Text.Json;
using LmHead.Extensions.Models;
using Microsoft.ML.Tokenizers;

namespace LmHead.Extensions.Tokenization;

/// <summary>
/// Reads the SentencePiece-style BPE <c>tokenizer.json</c> of Llama 2, TinyLlama and Mistral into a
/// <see cref="SentencePieceBpeTokenizer"/>: <c>byte_fallback</c>, the legacy normalizer
/// <c>Sequence[Prepend "▁", Replace " " → "▁"]</c> or the newer <c>Metaspace</c> pre-tokenizer, and the matching decoders.
/// </summary>
internal sealed class TokenizerJsonSentencePiece(string filePath)
{
    private const string Space = "\u2581";

    /// <summary>Whether the file is SentencePiece-style: byte fallback, a <c>Prepend</c>/<c>Replace</c> normalizer or a <c>Metaspace</c> pre-tokenizer.</summary>
    public static bool Applies(JsonElement root, JsonElement model) =>
        (model.TryGetProperty("byte_fallback", out var fallback) && fallback.ValueKind == JsonValueKind.True)
        || HasType(root, "normalizer", "Prepend", "Replace")
        || HasType(root, "pre_tokenizer", "Metaspace");

    /// <summary>Builds the tokenizer.</summary>
    public Tokenizer Create(JsonElement root, JsonElement model, Dictionary<string, int> vocabulary, List<string> merges, Dictionary<string, int> added)
    {
        bool prependNormalizer = false, replaceNormalizer = false;
        ReadNormalizer(root.TryGetProperty("normalizer", out var n) ? n : default, "normalizer", ref prependNormalizer, ref replaceNormalizer);
        var prepend = ReadPreTokenizer(root.TryGetProperty("pre_tokenizer", out var p) ? p : default, prependNormalizer, ref replaceNormalizer);
        if (!replaceNormalizer)
        {
            throw new ModelFormatException(filePath, "normalizer",
                $"the file has neither a Replace \" \" → \"{Space}\" normalizer nor a Metaspace pre-tokenizer, so spaces would not be spelled '{Space}'; SentencePiece-style files (byte_fallback) need one of them.");
        }

        var strip = ReadDecoder(root.TryGetProperty("decoder", out var d) ? d : default, "decoder");
        int? unknown = null;
        if (model.TryGetProperty("unk_token", out var unk) && unk.ValueKind == JsonValueKind.String)
        {
            string name = unk.GetString()!;
            unknown = vocabulary.TryGetValue(name, out int id) || added.TryGetValue(name, out id)
                ? id
                : throw new ModelFormatException(filePath, "model.unk_token", $"model.unk_token is '{name}', which is not in model.vocab.");
        }

        bool fuse = model.TryGetProperty("fuse_unk", out var f) && f.ValueKind == JsonValueKind.True;
        bool byteFallback = model.TryGetProperty("byte_fallback", out var b) && b.ValueKind == JsonValueKind.True;
        var ranks = new Dictionary<(int Left, int Right), (int Rank, int Merged)>(merges.Count);
        for (int i = 0; i < merges.Count; i++)
        {
            string[] parts = merges[i].Split(' ');
            if (!vocabulary.TryGetValue(parts[0], out int left) || !vocabulary.TryGetValue(parts[1], out int right)
                || !vocabulary.TryGetValue(parts[0] + parts[1], out int merged))
            {
                throw new ModelFormatException(filePath, $"model.merges[{i}]",
                    $"model.merges[{i}] is '{merges[i]}', but '{parts[0]}', '{parts[1]}' and their concatenation must all be in model.vocab.");
            }

            ranks.TryAdd((left, right), (i, merged));
        }

        return new SentencePieceBpeTokenizer(vocabulary, ranks, added, unknown, fuse, prepend, strip, byteFallback);
    }

    private void ReadNormalizer(JsonElement element, string path, ref bool prepend, ref bool replace)
    {
        if (element.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return;
        }

        switch (TypeOf(element, path))
        {
            case "Sequence":
                int i = 0;
                foreach (var inner in ArrayOf(element, "normalizers", path))
                {
                    ReadNormalizer(inner, $"{path}.normalizers[{i++}]", ref prepend, ref replace);
                }

                break;
            case "Prepend":
                RequireString(element, "prepend", path, Space);
                if (replace)
                {
                    throw new ModelFormatException(filePath, path, $"{path} (Prepend) comes after the Replace normalizer; only Prepend then Replace is supported.");
                }

                prepend = true;
                break;
            case "Replace":
                RequirePattern(element, path, " ");
                RequireString(element, "content", path, Space);
                replace = true;
                break;
            case { } other:
                throw Unsupported($"{path}.type", other, "a SentencePiece-style file's normalizer may be Prepend \"▁\", Replace \" \" → \"▁\" or a Sequence of them");
        }
    }

    private SentencePieceBpeTokenizer.PrependScheme ReadPreTokenizer(JsonElement element, bool prependNormalizer, ref bool replace)
    {
        const string path = "pre_tokenizer";
        if (element.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return prependNormalizer ? SentencePieceBpeTokenizer.PrependScheme.EveryPiece : SentencePieceBpeTokenizer.PrependScheme.Never;
        }

        string type = TypeOf(element, path);
        if (type != "Metaspace")
        {
            throw Unsupported($"{path}.type", type, "a SentencePiece-style file's pre_tokenizer may be null or Metaspace");
        }

        if (prependNormalizer)
        {
            throw new ModelFormatException(filePath, path, $"{path} is Metaspace and the normalizer has a Prepend step too; a file has one or the other.");
        }

        RequireString(element, "replacement", path, Space);
        if (element.TryGetProperty("split", out var split) && split.ValueKind == JsonValueKind.True)
        {
            throw Unsupported($"{path}.split", "true", "only false is supported (Mistral and Llama 2 files use false)");
        }

        replace = true;
        if (element.TryGetProperty("prepend_scheme", out var scheme) && scheme.ValueKind == JsonValueKind.String)
        {
            return scheme.GetString() switch
            {
                "first" => SentencePieceBpeTokenizer.PrependScheme.First,
                "always" => SentencePieceBpeTokenizer.PrependScheme.Always,
                "never" => SentencePieceBpeTokenizer.PrependScheme.Never,
                var other => throw Unsupported($"{path}.prepend_scheme", other ?? "null", "supported schemes are first, always and never"),
            };
        }

        // Files older than prepend_scheme say add_prefix_space (default true, which meant 'always').
        bool addPrefix = !element.TryGetProperty("add_prefix_space", out var add) || add.ValueKind != JsonValueKind.False;
        return addPrefix ? SentencePieceBpeTokenizer.PrependScheme.Always : SentencePieceBpeTokenizer.PrependScheme.Never;
    }

    // Returns what decoding removes for the prepended "▁". Accepts the decoders these files ship and nothing else, so a
    // file that decodes differently is an error rather than text that silently differs.
    private SentencePieceBpeTokenizer.LeadingSpace ReadDecoder(JsonElement element, string path)
    {
        const SentencePieceBpeTokenizer.LeadingSpace Keep = SentencePieceBpeTokenizer.LeadingSpace.Keep;
        if (element.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return Keep;
        }

        switch (TypeOf(element, path))
        {
            case "Sequence":
                var strip = Keep;
                int i = 0;
                foreach (var inner in ArrayOf(element, "decoders", path))
                {
                    var step = ReadDecoder(inner, $"{path}.decoders[{i++}]");
                    strip = step == Keep ? strip : step;
                }

                return strip;
            case "Replace":
                RequirePattern(element, path, Space);
                RequireString(element, "content", path, " ");
                return Keep;
            case "ByteFallback" or "Fuse":
                return Keep;
            case "Strip":
                RequireString(element, "content", path, " ");
                int start = element.TryGetProperty("start", out var s) && s.TryGetInt32(out int value) ? value : 0;
                int stop = element.TryGetProperty("stop", out var e) && e.TryGetInt32(out int end) ? end : 0;
                if (start > 1 || stop != 0)
                {
                    throw Unsupported($"{path}.start", $"{start}, stop {stop}", "only start 0 or 1 and stop 0 are supported");
                }

                return start == 1 ? SentencePieceBpeTokenizer.LeadingSpace.StripOne : Keep;
            case "Metaspace":
                RequireString(element, "replacement", path, Space);
                bool never = (element.TryGetProperty("prepend_scheme", out var scheme) && scheme.ValueKind == JsonValueKind.String && scheme.GetString() == "never")
                    || (element.TryGetProperty("add_prefix_space", out var add) && add.ValueKind == JsonValueKind.False);
                return never ? Keep : SentencePieceBpeTokenizer.LeadingSpace.DropFromFirstToken;
            case var other:
                throw Unsupported($"{path}.type", other, "a SentencePiece-style file's decoder may be Replace, ByteFallback, Fuse, Strip, Metaspace or a Sequence of them");
        }
    }

    private static bool HasType(JsonElement root, string section, params string[] types)
    {
        if (!root.TryGetProperty(section, out var element) || element.ValueKind != JsonValueKind.Object)
        {
            return false;
        }

        if (element.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && types.Contains(type.GetString()))
        {
            return true;
        }

        foreach (string list in (string[])["normalizers", "pretokenizers"])
        {
            if (element.TryGetProperty(list, out var inner) && inner.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in inner.EnumerateArray())
                {
                    if (item.ValueKind == JsonValueKind.Object && item.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && types.Contains(t.GetString()))
                    {
                        return true;
                    }
                }
            }
        }

        return false;
    }

    private void RequirePattern(JsonElement element, string path, string expected)
    {
        if (!element.TryGetProperty("pattern", out var pattern) || pattern.ValueKind != JsonValueKind.Object
            || !pattern.TryGetProperty("String", out var text) || text.ValueKind != JsonValueKind.String || text.GetString() != expected)
        {
            string found = element.TryGetProperty("pattern", out var raw) ? raw.GetRawText() : "missing";
            throw Unsupported($"{path}.pattern", found, $"only {{\"String\": \"{expected}\"}} is supported here");
        }
    }

    private void RequireString(JsonElement element, string name, string path, string expected)
    {
        if (!element.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.String || value.GetString() != expected)
        {
            string found = element.TryGetProperty(name, out var raw) ? raw.GetRawText() : "missing";
            throw Unsupported($"{path}.{name}", found, $"only \"{expected}\" is supported");
        }
    }

    private string TypeOf(JsonElement element, string path) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String
            ? type.GetString()!
            : throw new ModelFormatException(filePath, $"{path}.type", $"{path} must be null or an object with a string \"type\".");

    private JsonElement.ArrayEnumerator ArrayOf(JsonElement element, string name, string path) =>
        element.TryGetProperty(name, out var array) && array.ValueKind == JsonValueKind.Array
            ? array.EnumerateArray()
            : throw new ModelFormatException(filePath, $"{path}.{name}", $"{path}.{name} must be an array.");

    private ModelFormatException Unsupported(string path, string value, string allowed) =>
        new(filePath, path, $"{path} is '{value}', which this library does not support: {allowed}.");
}
