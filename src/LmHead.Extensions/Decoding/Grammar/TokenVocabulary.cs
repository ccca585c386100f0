using System.Runtime.CompilerServices;
using Microsoft.ML.Tokenizers;

namespace LmHead.Extensions.Decoding.Grammar;

/// <summary>
/// The byte string of every token of a vocabulary, which a <see cref="GrammarConstraint"/> checks against its grammar
/// (so a multi-byte UTF-8 character split across tokens is handled like any other bytes), and the end-of-text token
/// that is allowed once the grammar's text is complete. Tokens are kept sorted by their bytes: a range of that order
/// is a subtree of the vocabulary's trie, walked once per grammar node.
/// </summary>
public sealed class TokenVocabulary
{
    private static readonly ConditionalWeakTable<Tokenizer, TokenVocabulary> FromTokenizers = [];
    private readonly byte[]?[] _bytes;

    /// <summary>Creates a vocabulary from the byte strings of its tokens.</summary>
    /// <param name="tokenBytes">The bytes of token i at index i; <see langword="null"/> or empty for a token that never writes text (a special token).</param>
    /// <param name="endOfTextTokenId">The end-of-text token, allowed only when the grammar's text may end; <see langword="null"/> if there is none.</param>
    /// <exception cref="ArgumentNullException"><paramref name="tokenBytes"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="endOfTextTokenId"/> is negative.</exception>
    public TokenVocabulary(IReadOnlyList<byte[]?> tokenBytes, int? endOfTextTokenId)
    {
        ArgumentNullException.ThrowIfNull(tokenBytes);
        if (endOfTextTokenId < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(endOfTextTokenId), endOfTextTokenId, $"endOfTextTokenId must be 0 or more, but was {endOfTextTokenId}.");
        }

        _bytes = [.. tokenBytes.Select(b => b is { Length: > 0 } ? (byte[])b.Clone() : null)];
        EndOfTextTokenId = endOfTextTokenId;
        Count = Math.Max(_bytes.Length, (endOfTextTokenId ?? -1) + 1);
        if (endOfTextTokenId is { } eot && eot < _bytes.Length)
        {
            _bytes[eot] = null;
        }

        SortedIds = [.. Enumerable.Range(0, _bytes.Length).Where(i => _bytes[i] is not null).OrderBy(i => _bytes[i], ByteStringComparer.Instance)];
    }

    /// <summary>How many token ids the vocabulary covers (logits beyond it are always masked).</summary>
    public int Count { get; }

    /// <summary>The end-of-text token, or <see langword="null"/>.</summary>
    public int? EndOfTextTokenId { get; }

    /// <summary>The bytes of a token (empty for a token without text).</summary>
    /// <param name="tokenId">The token id.</param>
    /// <returns>The bytes.</returns>
    public ReadOnlySpan<byte> BytesOf(int tokenId) => tokenId >= 0 && tokenId < _bytes.Length ? _bytes[tokenId] : default;

    /// <summary>The ids of the tokens with text, sorted by their bytes.</summary>
    internal int[] SortedIds { get; }

    /// <summary>
    /// The vocabulary of a Microsoft.ML.Tokenizers tokenizer (cached per tokenizer): a tiktoken tokenizer's byte table,
    /// or a byte-level BPE vocabulary (GPT-2's byte-to-character mapping undone); special tokens write no text.
    /// </summary>
    /// <param name="tokenizer">The tokenizer.</param>
    /// <param name="endOfTextTokenId">The end-of-text token id (GPT-2: 50256), or <see langword="null"/> for none.</param>
    /// <returns>The vocabulary.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="tokenizer"/> is null.</exception>
    /// <exception cref="ArgumentException">The tokenizer's kind has no byte table this library can read.</exception>
    /// <exception cref="NotSupportedException">The tiktoken tokenizer's byte table cannot be read in this version of Microsoft.ML.Tokenizers.</exception>
    public static TokenVocabulary FromTokenizer(Tokenizer tokenizer, int? endOfTextTokenId)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        var cached = FromTokenizers.GetValue(tokenizer, t => new TokenVocabulary(ReadBytes(t), null));
        return cached.EndOfTextTokenId == endOfTextTokenId ? cached : new TokenVocabulary(cached._bytes, endOfTextTokenId);
    }

    private static byte[]?[] ReadBytes(Tokenizer tokenizer)
    {
        switch (tokenizer)
        {
            case TiktokenTokenizer tiktoken:
            {
                var decoder = TiktokenBytes(tiktoken);
                int size = decoder.Keys.DefaultIfEmpty(-1).Max() + 1;
                var bytes = new byte[]?[size];
                foreach (var (id, value) in decoder)
                {
                    bytes[id] = value.ToArray();
                }

                return WithoutSpecial(bytes, tiktoken.SpecialTokens);
            }

            case BpeTokenizer bpe:
                return WithoutSpecial(FromByteLevelStrings(bpe.Vocabulary), bpe.SpecialTokens);
            case CodeGenTokenizer codeGen:
                return WithoutSpecial(FromByteLevelStrings(codeGen.Vocabulary), codeGen.SpecialTokens);
            default:
                throw new ArgumentException(
                    $"The tokenizer is a {tokenizer.GetType().Name}; grammar constraints read token bytes from TiktokenTokenizer, BpeTokenizer and CodeGenTokenizer only. Build a TokenVocabulary from the token bytes instead.",
                    nameof(tokenizer));
        }
    }

    /// <summary>
    /// The id-to-bytes table of a tiktoken tokenizer. Microsoft.ML.Tokenizers 2.0 keeps it internal (its public
    /// <c>Vocabulary</c> holds strings, which lose the bytes of a partial UTF-8 character), so it is read by reflection.
    /// </summary>
    private static IReadOnlyDictionary<int, ReadOnlyMemory<byte>> TiktokenBytes(TiktokenTokenizer tokenizer) =>
        typeof(TiktokenTokenizer).GetProperty("Decoder", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Public)
            ?.GetValue(tokenizer) as IReadOnlyDictionary<int, ReadOnlyMemory<byte>>
        ?? throw new NotSupportedException(
            "This version of Microsoft.ML.Tokenizers does not expose TiktokenTokenizer's byte table; build a TokenVocabulary from the token bytes instead.");

    private static byte[]?[] WithoutSpecial(byte[]?[] bytes, IReadOnlyDictionary<string, int>? special)
    {
        foreach (int id in special?.Values ?? [])
        {
            if (id >= 0 && id < bytes.Length)
            {
                bytes[id] = null;
            }
        }

        return bytes;
    }

    /// <summary>Undoes GPT-2's byte-to-character mapping of a byte-level BPE vocabulary.</summary>
    private static byte[]?[] FromByteLevelStrings(IReadOnlyDictionary<string, int> vocabulary)
    {
        var toByte = new Dictionary<char, byte>();
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            toByte[(char)(printable ? b : 256 + extra++)] = (byte)b;
        }

        var bytes = new byte[]?[vocabulary.Values.DefaultIfEmpty(-1).Max() + 1];
        foreach (var (text, id) in vocabulary)
        {
            bytes[id] = text.All(toByte.ContainsKey) ? [.. text.Select(c => toByte[c])] : System.Text.Encoding.UTF8.GetBytes(text);
        }

        return bytes;
    }

    private sealed class ByteStringComparer : IComparer<byte[]?>
    {
        public static ByteStringComparer Instance { get; } = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
