using System.Text.Json.Nodes;

namespace LmHead.Extensions.Tests.Tokenization;

/// <summary>Writes <c>tokenizer.json</c> texts for tests: a byte-level vocabulary, merges and added tokens.</summary>
internal static class TokenizerJsonFile
{
    /// <summary>GPT-2's bytes_to_unicode, written out here independently of the library's table.</summary>
    public static char ByteChar(int b)
    {
        int shifted = 0;
        for (int i = 0; i < 256; i++)
        {
            bool printable = (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255);
            if (i == b)
            {
                return printable ? (char)i : (char)(256 + shifted);
            }

            if (!printable)
            {
                shifted++;
            }
        }

        throw new ArgumentOutOfRangeException(nameof(b));
    }

    /// <summary>The 256 single-byte tokens with id = byte value.</summary>
    public static Dictionary<string, int> ByteVocabulary()
    {
        var vocab = new Dictionary<string, int>();
        for (int b = 0; b < 256; b++)
        {
            vocab[ByteChar(b).ToString()] = b;
        }

        return vocab;
    }

    public static JsonObject ByteLevel(bool useRegex = true) =>
        new() { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = useRegex };

    public static JsonObject Split(string regex) =>
        new() { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = regex }, ["behavior"] = "Isolated", ["invert"] = false };

    public static JsonObject Sequence(params JsonNode[] steps) => new() { ["type"] = "Sequence", ["pretokenizers"] = new JsonArray(steps) };

    /// <summary>The text of a tokenizer.json.</summary>
    public static string Write(
        IReadOnlyDictionary<string, int> vocabulary,
        IEnumerable<(string Left, string Right)> merges,
        JsonNode? preTokenizer,
        IEnumerable<(int Id, string Content, bool Special)>? added = null,
        bool mergesAsPairs = false,
        bool ignoreMerges = false,
        JsonNode? normalizer = null)
    {
        var vocab = new JsonObject();
        foreach (var (token, id) in vocabulary)
        {
            vocab[token] = id;
        }

        var mergeArray = new JsonArray();
        foreach (var (left, right) in merges)
        {
            mergeArray.Add(mergesAsPairs ? new JsonArray(left, right) : JsonValue.Create($"{left} {right}"));
        }

        var addedArray = new JsonArray();
        foreach (var (id, content, special) in added ?? [])
        {
            addedArray.Add(new JsonObject
            {
                ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
                ["normalized"] = false, ["special"] = special,
            });
        }

        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = addedArray,
            ["normalizer"] = normalizer,
            ["pre_tokenizer"] = preTokenizer,
            ["post_processor"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = false, ["use_regex"] = true },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = "",
                ["end_of_word_suffix"] = "", ["fuse_unk"] = false, ["byte_fallback"] = false, ["ignore_merges"] = ignoreMerges,
                ["vocab"] = vocab, ["merges"] = mergeArray,
            },
        };
        return root.ToJsonString();
    }
}
