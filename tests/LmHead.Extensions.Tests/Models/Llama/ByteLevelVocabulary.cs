using System.Text;
using System.Text.Json;

namespace LmHead.Extensions.Tests.Models.Llama;

/// <summary>Writes a byte-level BPE tokenizer with no merges (one token per byte, GPT-2's byte-to-character map): ids 0-255, and <|endoftext|> = 256.</summary>
internal static class ByteLevelVocabulary
{
    internal const int Size = 257;

    internal static void Write(string folder)
    {
        var printable = Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range('¡', '¬' - '¡' + 1)).Concat(Enumerable.Range('®', 'ÿ' - '®' + 1)).ToHashSet();
        var vocabulary = new Dictionary<string, int>();
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            char c = printable.Contains(b) ? (char)b : (char)(256 + extra++);
            vocabulary[c.ToString()] = b;
        }

        vocabulary["<|endoftext|>"] = 256;
        File.WriteAllText(Path.Combine(folder, "vocab.json"), JsonSerializer.Serialize(vocabulary), Encoding.UTF8);
        File.WriteAllText(Path.Combine(folder, "merges.txt"), "#version: 0.2\n", Encoding.UTF8);
    }
}
