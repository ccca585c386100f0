using System.Text;
using System.Text.Json;
using LmHead.Extensions.Models;
using Microsoft.ML.Tokenizers;

namespace LmHead.Extensions.Tokenization;

/// <summary>Turns the parsed JSON of a <c>tokenizer.json</c> into a tokenizer (see <see cref="TokenizerJson"/>).</summary>
internal sealed class TokenizerJsonReader(string filePath)
{
    public Tokenizer Read(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new ModelFormatException(filePath, null, "the file must hold a JSON object.");
        }

        var model = Member(root, "model", JsonValueKind.Object, "model");
        string type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "BPE";
        if (type != "BPE")
        {
            throw new ModelFormatException(filePath, "model.type", $"model.type is '{type}', which this library does not support: only BPE models are read.");
        }

        if (model.TryGetProperty("dropout", out var dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() != 0)
        {
            throw new ModelFormatException(filePath, "model.dropout", $"model.dropout is {dropout.GetRawText()}, which this library does not support: only null or 0.");
        }

        foreach (string affix in (string[])["continuing_subword_prefix", "end_of_word_suffix"])
        {
            if (model.TryGetProperty(affix, out var value) && value.ValueKind == JsonValueKind.String && value.GetString()!.Length > 0)
            {
                throw new ModelFormatException(filePath, $"model.{affix}", $"model.{affix} is '{value.GetString()}', which this library does not support: only null or empty (byte-level BPE).");
            }
        }

        if (TokenizerJsonSentencePiece.Applies(root, model))
        {
            return new TokenizerJsonSentencePiece(filePath).Create(root, model, ReadVocabulary(model), ReadMerges(model), ReadAddedTokens(root));
        }

        var pre = new TokenizerJsonPreTokenization(filePath);
        var normalizer = pre.ReadNormalizer(root.TryGetProperty("normalizer", out var n) ? n : default);
        pre.ReadPreTokenizer(root.TryGetProperty("pre_tokenizer", out var p) ? p : default);
        if (!pre.ByteLevel)
        {
            throw new ModelFormatException(filePath, "pre_tokenizer",
                "the pre_tokenizer has no ByteLevel step, so the vocabulary is not byte-level BPE; the files read are byte-level BPE (GPT-2, Qwen2, SmolLM2, Llama 3) and SentencePiece-style BPE with byte_fallback, a Prepend/Replace normalizer or a Metaspace pre-tokenizer (Llama 2, TinyLlama, Mistral).");
        }

        var vocabulary = ReadVocabulary(model);
        var merges = ReadMerges(model);
        var added = ReadAddedTokens(root);
        var preTokenizer = new AddedTokenPreTokenizer(pre.Steps, added.Keys);
        bool ignoreMerges = model.TryGetProperty("ignore_merges", out var ignore) && ignore.ValueKind == JsonValueKind.True;
        return ignoreMerges
            ? CreateTiktoken(vocabulary, merges, added, preTokenizer, normalizer)
            : CreateBpe(vocabulary, merges, added, preTokenizer, normalizer);
    }

    private BpeTokenizer CreateBpe(Dictionary<string, int> vocabulary, List<string> merges, Dictionary<string, int> added, PreTokenizer preTokenizer, Normalizer? normalizer)
    {
        var options = new BpeOptions(vocabulary)
        {
            Merges = merges,
            ByteLevel = true,
            SpecialTokens = added,
            PreTokenizer = preTokenizer,
            Normalizer = normalizer,
        };
        try
        {
            return BpeTokenizer.Create(options);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or FormatException or KeyNotFoundException)
        {
            throw new ModelFormatException(filePath, "model", $"Microsoft.ML.Tokenizers rejected the BPE model: {ex.Message}", ex);
        }
    }

    // Tiktoken merges the adjacent pair whose concatenation has the lowest id; that is the file's merge order only when
    // the merged tokens' ids rise with it, as in Llama 3's file (converted from tiktoken ranks). Checked, not assumed.
    private TiktokenTokenizer CreateTiktoken(Dictionary<string, int> vocabulary, List<string> merges, Dictionary<string, int> added, PreTokenizer preTokenizer, Normalizer? normalizer)
    {
        int previous = -1;
        for (int i = 0; i < merges.Count; i++)
        {
            string merged = merges[i].Replace(" ", string.Empty, StringComparison.Ordinal);
            if (!vocabulary.TryGetValue(merged, out int id) || id < previous)
            {
                throw new ModelFormatException(filePath, $"model.merges[{i}]",
                    $"model.ignore_merges is true, which this library reads as tiktoken's rule, but merge {i} ('{merges[i]}') {(vocabulary.ContainsKey(merged) ? $"makes id {id}, lower than the previous merge's {previous}" : "makes a token that is not in model.vocab")}; the merges must follow the id order.");
            }

            previous = id;
        }

        RequireEveryPairListed(vocabulary, merges);
        var text = new StringBuilder(vocabulary.Count * 16);
        foreach (var (token, id) in vocabulary)
        {
            byte[] bytes = ByteLevelAlphabet.TryDecode(token)
                ?? throw new ModelFormatException(filePath, "model.vocab", $"model.vocab holds '{token}', which is not spelled in the byte-level alphabet.");
            text.Append(Convert.ToBase64String(bytes)).Append(' ').Append(id).Append('\n');
        }

        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(text.ToString()), writable: false);
        try
        {
            return TiktokenTokenizer.Create(stream, preTokenizer, normalizer, added);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new ModelFormatException(filePath, "model", $"Microsoft.ML.Tokenizers rejected the vocabulary: {ex.Message}", ex);
        }
    }

    // Tiktoken merges any adjacent pair whose concatenation is in the vocabulary; BPE merges only listed pairs. The two
    // agree when every split of a token into two tokens is listed (Hugging Face's tiktoken conversion lists them all).
    private void RequireEveryPairListed(Dictionary<string, int> vocabulary, List<string> merges)
    {
        var listed = new HashSet<string>(merges, StringComparer.Ordinal);
        foreach (string token in vocabulary.Keys)
        {
            for (int split = 1; split < token.Length; split++)
            {
                string left = token[..split], right = token[split..];
                if (vocabulary.ContainsKey(left) && vocabulary.ContainsKey(right) && !listed.Contains($"{left} {right}"))
                {
                    throw new ModelFormatException(filePath, "model.merges",
                        $"model.ignore_merges is true, which this library reads as tiktoken's rule, but the pair '{left} {right}' of token '{token}' is not in model.merges; every split of a token into two tokens must be listed.");
                }
            }
        }
    }

    private Dictionary<string, int> ReadVocabulary(JsonElement model)
    {
        var vocab = Member(model, "vocab", JsonValueKind.Object, "model.vocab");
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in vocab.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0)
            {
                throw new ModelFormatException(filePath, $"model.vocab[\"{entry.Name}\"]", $"model.vocab[\"{entry.Name}\"] must be a non-negative integer id, but is {entry.Value.GetRawText()}.");
            }

            result[entry.Name] = id;
        }

        return result;
    }

    // Merges are "a b" strings (older files) or ["a", "b"] pairs (tokenizers >= 0.20); Microsoft.ML.Tokenizers takes the former.
    private List<string> ReadMerges(JsonElement model)
    {
        var result = new List<string>();
        if (!model.TryGetProperty("merges", out var merges) || merges.ValueKind == JsonValueKind.Null)
        {
            return result;
        }

        if (merges.ValueKind != JsonValueKind.Array)
        {
            throw new ModelFormatException(filePath, "model.merges", "model.merges must be an array.");
        }

        int i = 0;
        foreach (var merge in merges.EnumerateArray())
        {
            string? text = merge.ValueKind switch
            {
                JsonValueKind.String when merge.GetString()!.Split(' ').Length == 2 => merge.GetString(),
                JsonValueKind.Array when merge.GetArrayLength() == 2 && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String
                    && !merge[0].GetString()!.Contains(' ', StringComparison.Ordinal) && !merge[1].GetString()!.Contains(' ', StringComparison.Ordinal)
                    => $"{merge[0].GetString()} {merge[1].GetString()}",
                _ => null,
            };
            result.Add(text ?? throw new ModelFormatException(filePath, $"model.merges[{i}]",
                $"model.merges[{i}] is {merge.GetRawText()}; a merge is \"a b\" or [\"a\", \"b\"] with two space-free tokens."));
            i++;
        }

        return result;
    }

    private Dictionary<string, int> ReadAddedTokens(JsonElement root)
    {
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        if (!root.TryGetProperty("added_tokens", out var added) || added.ValueKind == JsonValueKind.Null)
        {
            return result;
        }

        if (added.ValueKind != JsonValueKind.Array)
        {
            throw new ModelFormatException(filePath, "added_tokens", "added_tokens must be an array.");
        }

        int i = 0;
        foreach (var token in added.EnumerateArray())
        {
            string path = $"added_tokens[{i++}]";
            if (token.ValueKind != JsonValueKind.Object
                || !token.TryGetProperty("id", out var id) || !id.TryGetInt32(out int value) || value < 0
                || !token.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String || content.GetString()!.Length == 0)
            {
                throw new ModelFormatException(filePath, path, $"{path} must be an object with a non-negative integer \"id\" and a non-empty string \"content\", but is {token.GetRawText()}.");
            }

            foreach (string flag in (string[])["lstrip", "rstrip", "single_word"])
            {
                if (token.TryGetProperty(flag, out var set) && set.ValueKind == JsonValueKind.True)
                {
                    throw new ModelFormatException(filePath, $"{path}.{flag}", $"{path}.{flag} is true, which this library does not support (only false).");
                }
            }

            result[content.GetString()!] = value;
        }

        return result;
    }

    private JsonElement Member(JsonElement parent, string name, JsonValueKind kind, string path) =>
        parent.TryGetProperty(name, out var value) && value.ValueKind == kind
            ? value
            : throw new ModelFormatException(filePath, path, $"{path} must be a JSON {kind.ToString().ToLowerInvariant()}.");
}
