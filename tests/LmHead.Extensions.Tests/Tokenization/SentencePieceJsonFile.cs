using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LmHead.Extensions.Tests.Tokenization;

/// <summary>
/// Writes SentencePiece-style <c>tokenizer.json</c> texts laid out like Llama 2's / TinyLlama's (legacy normalizer) and
/// Mistral v0.3's (Metaspace pre-tokenizer), over a small hand-made vocabulary.
/// </summary>
internal static class SentencePieceJsonFile
{
    public const string Space = "\u2581";

    /// <summary>Ids: 0 &lt;unk&gt;, 1 &lt;s&gt;, 2 &lt;/s&gt;, 3..258 the byte tokens &lt;0x00&gt;..&lt;0xFF&gt;, then the pieces below
    /// ("▁▁" last, made by no merge, so only decoding meets it).</summary>
    public static int Byte(int b) => 3 + b;

    public const int Unknown = 0, Bos = 1, Eos = 2;
    public const int Sp = 259, H = 260, E = 261, L = 262, O = 263, W = 264, R = 265, D = 266;
    public const int SpH = 267, Ll = 268, Ell = 269, SpHell = 270, SpHello = 271, SpW = 272, Or = 273, SpWor = 274, EAcute = 275, SpSp = 276;

    /// <summary>The merges in rank order: "▁ h", "l l", "e ll", "▁h ell", "▁hell o", "▁ w", "o r", "▁w or".</summary>
    public static readonly (string Left, string Right)[] Merges =
    [
        (Space, "h"), ("l", "l"), ("e", "ll"), (Space + "h", "ell"), (Space + "hell", "o"), (Space, "w"), ("o", "r"), (Space + "w", "or"),
    ];

    public static Dictionary<string, int> Vocabulary()
    {
        var vocab = new Dictionary<string, int> { ["<unk>"] = Unknown, ["<s>"] = Bos, ["</s>"] = Eos };
        for (int b = 0; b < 256; b++)
        {
            vocab[$"<0x{b:X2}>"] = Byte(b);
        }

        string[] pieces = [Space, "h", "e", "l", "o", "w", "r", "d", Space + "h", "ll", "ell", Space + "hell", Space + "hello", Space + "w", "or", Space + "wor", "é", Space + Space];
        for (int i = 0; i < pieces.Length; i++)
        {
            vocab[pieces[i]] = Sp + i;
        }

        return vocab;
    }

    /// <summary>Llama 2 / TinyLlama / Mistral v0.1: normalizer Prepend + Replace, no pre-tokenizer, Strip decoder.</summary>
    public static string Legacy(bool byteFallback = true, bool fuseUnknown = true, IEnumerable<(int Id, string Content)>? extraAdded = null) =>
        Write(
            new JsonObject
            {
                ["type"] = "Sequence",
                ["normalizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Prepend", ["prepend"] = Space },
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = Space }),
            },
            null,
            new JsonObject
            {
                ["type"] = "Sequence",
                ["decoders"] = new JsonArray(
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = Space }, ["content"] = " " },
                    new JsonObject { ["type"] = "ByteFallback" },
                    new JsonObject { ["type"] = "Fuse" },
                    new JsonObject { ["type"] = "Strip", ["content"] = " ", ["start"] = 1, ["stop"] = 0 }),
            },
            byteFallback,
            fuseUnknown,
            extraAdded);

    /// <summary>Mistral v0.3: no normalizer, Metaspace pre-tokenizer and decoder with the given prepend scheme.</summary>
    public static string Metaspace(string prependScheme = "first") =>
        Write(
            null,
            new JsonObject { ["type"] = "Metaspace", ["replacement"] = Space, ["prepend_scheme"] = prependScheme, ["split"] = false },
            new JsonObject { ["type"] = "Metaspace", ["replacement"] = Space, ["prepend_scheme"] = prependScheme, ["split"] = false },
            byteFallback: true,
            fuseUnknown: true,
            null);

    private static string Write(JsonNode? normalizer, JsonNode? preTokenizer, JsonNode? decoder, bool byteFallback, bool fuseUnknown, IEnumerable<(int Id, string Content)>? extraAdded)
    {
        var vocab = new JsonObject();
        foreach (var (token, id) in Vocabulary())
        {
            vocab[token] = id;
        }

        var merges = new JsonArray();
        foreach (var (left, right) in Merges)
        {
            merges.Add(JsonValue.Create($"{left} {right}"));
        }

        var added = new JsonArray();
        foreach (var (id, content) in new[] { (Unknown, "<unk>"), (Bos, "<s>"), (Eos, "</s>") }.Concat(extraAdded ?? []))
        {
            added.Add(new JsonObject
            {
                ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
            });
        }

        return new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = normalizer,
            ["pre_tokenizer"] = preTokenizer,
            ["post_processor"] = new JsonObject { ["type"] = "TemplateProcessing" },
            ["decoder"] = decoder,
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = "<unk>", ["continuing_subword_prefix"] = null, ["end_of_word_suffix"] = null,
                ["fuse_unk"] = fuseUnknown, ["byte_fallback"] = byteFallback, ["vocab"] = vocab, ["merges"] = merges,
            },
        }.ToJsonString(Relaxed);
    }

    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}
