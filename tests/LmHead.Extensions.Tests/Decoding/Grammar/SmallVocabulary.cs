using LmHead.Extensions.Decoding.Grammar;

namespace LmHead.Extensions.Tests.Decoding.Grammar;

/// <summary>
/// A hand-made byte-level vocabulary: the 256 single bytes, some JSON-ish merges, and tokens that split multi-byte
/// UTF-8 characters (é, 中, 😀) across token boundaries, some glued to a quote. The last id is end-of-text.
/// </summary>
internal static class SmallVocabulary
{
    internal static readonly byte[][] Merges =
    [
        "{\""u8.ToArray(), "\":"u8.ToArray(), "\","u8.ToArray(), "\"}"u8.ToArray(), "true"u8.ToArray(), "null"u8.ToArray(),
        "false"u8.ToArray(), "]}"u8.ToArray(), ", "u8.ToArray(), "\": \""u8.ToArray(), "12"u8.ToArray(), "\"a"u8.ToArray(),
        [0xC3], [0xA9, (byte)'"'], [(byte)'"', 0xC3], [0xE4, 0xB8], [0xAD], [0xB8, 0xAD], [0xF0, 0x9F], [0x98, 0x80, (byte)'"'],
        [0x9F, 0x98, 0x80], "name"u8.ToArray(), "\"name\":"u8.ToArray(), "},{"u8.ToArray(), "[{"u8.ToArray(), "e"u8.ToArray(),
    ];

    internal static int Size => 256 + Merges.Length + 1;

    internal static int EndOfText => Size - 1;

    internal static TokenVocabulary Create()
    {
        var tokens = new List<byte[]?>();
        for (int b = 0; b < 256; b++)
        {
            tokens.Add([(byte)b]);
        }

        tokens.AddRange(Merges);
        tokens.Add(null);
        return new TokenVocabulary(tokens, EndOfText);
    }

    internal static TokenVocabulary Shared { get; } = Create();

    /// <summary>The ids of the vocabulary's tokens whose bytes equal <paramref name="bytes"/>.</summary>
    internal static int IdOf(byte[] bytes)
    {
        var vocabulary = Shared;
        for (int id = 0; id < vocabulary.Count; id++)
        {
            if (vocabulary.BytesOf(id).SequenceEqual(bytes))
            {
                return id;
            }
        }

        throw new ArgumentException("no such token", nameof(bytes));
    }
}
