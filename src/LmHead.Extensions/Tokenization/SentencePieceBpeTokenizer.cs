using System.Buffers;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace LmHead.Extensions.Tokenization;

/// <summary>
/// The SentencePiece-style BPE of a <c>tokenizer.json</c> (Llama 2, TinyLlama, Mistral): spaces are spelled <c>▁</c>,
/// a <c>▁</c> is prepended to the text, merges apply in the file's order over characters, and a character the
/// vocabulary lacks becomes its UTF-8 bytes as <c>&lt;0xNN&gt;</c> tokens (<c>byte_fallback</c>). Decoding reverses it:
/// <c>▁</c> becomes a space, byte tokens fuse into characters, and the one leading space is stripped.
/// </summary>
/// <remarks>
/// Microsoft.ML.Tokenizers 2.0's <see cref="BpeTokenizer"/> has no byte fallback and its
/// <see cref="SentencePieceTokenizer"/> is built from a <c>tokenizer.model</c> protobuf only and treats the text after a
/// special token differently from Hugging Face's legacy normalizer, hence this class, written from the Hugging Face
/// tokenizers definitions (BPE with <c>byte_fallback</c>, the <c>Prepend</c>/<c>Replace</c> normalizers, the
/// <c>Metaspace</c> pre-tokenizer and the <c>Replace</c>/<c>ByteFallback</c>/<c>Fuse</c>/<c>Strip</c> decoders).
/// </remarks>
internal sealed partial class SentencePieceBpeTokenizer : Tokenizer
{
    /// <summary>The character SentencePiece spells a space with (U+2581).</summary>
    public const char Space = '\u2581';

    private readonly Dictionary<string, int> _vocabulary;
    private readonly Dictionary<int, string> _tokens;
    private readonly Dictionary<(int Left, int Right), (int Rank, int Merged)> _merges;
    private readonly int[] _byteIds;
    private readonly int? _unknownId;
    private readonly bool _fuseUnknown;
    private readonly PrependScheme _prepend;
    private readonly AddedTokenPreTokenizer _addedTokens;
    private readonly Dictionary<string, int> _special;
    private readonly HashSet<int> _specialIds;

    /// <summary>What decoding removes for the <c>▁</c> the encoder prepended.</summary>
    public enum LeadingSpace
    {
        /// <summary>Nothing (no decoder that strips).</summary>
        Keep,

        /// <summary>One leading space of the decoded text (the <c>Strip</c> decoder, <c>start: 1</c>).</summary>
        StripOne,

        /// <summary>Every <c>▁</c> of the first token (the <c>Metaspace</c> decoder with a prepend scheme).</summary>
        DropFromFirstToken,
    }

    /// <summary>When a <c>▁</c> goes in front of a piece of text (the text between added tokens).</summary>
    public enum PrependScheme
    {
        /// <summary>Every piece (the legacy <c>Prepend</c> normalizer, which runs on each piece), even one starting with a space.</summary>
        EveryPiece,

        /// <summary>Every piece that does not start with a space already (<c>Metaspace</c>, <c>prepend_scheme: always</c>).</summary>
        Always,

        /// <summary>Only the piece at the start of the text, unless it starts with a space (<c>prepend_scheme: first</c>).</summary>
        First,

        /// <summary>Never (<c>prepend_scheme: never</c>).</summary>
        Never,
    }

    /// <summary>Creates the tokenizer from checked tables (merges map a pair of ids to its rank and the merged id).</summary>
    public SentencePieceBpeTokenizer(
        Dictionary<string, int> vocabulary,
        Dictionary<(int Left, int Right), (int Rank, int Merged)> merges,
        Dictionary<string, int> addedTokens,
        int? unknownId,
        bool fuseUnknown,
        PrependScheme prepend,
        LeadingSpace leadingSpace,
        bool byteFallback)
    {
        _vocabulary = vocabulary;
        _merges = merges;
        _unknownId = unknownId;
        _fuseUnknown = fuseUnknown;
        _prepend = prepend;
        DecodedLeadingSpace = leadingSpace;
        _special = addedTokens;
        _specialIds = [.. addedTokens.Values];
        _tokens = [];
        foreach (var (token, id) in vocabulary)
        {
            _tokens[id] = token;
        }

        foreach (var (token, id) in addedTokens)
        {
            _tokens[id] = token;
        }

        _byteIds = new int[256];
        for (int b = 0; b < 256; b++)
        {
            _byteIds[b] = byteFallback && vocabulary.TryGetValue(ByteToken(b), out int id) ? id : -1;
        }

        _addedTokens = new AddedTokenPreTokenizer([], addedTokens.Keys);
    }

    /// <summary>What decoding removes for the <c>▁</c> the encoder prepended.</summary>
    public LeadingSpace DecodedLeadingSpace { get; }

    /// <summary>The added tokens (special or not), each encoded as its single id.</summary>
    public IReadOnlyDictionary<string, int> SpecialTokens => _special;

    /// <summary>The number of ids: one more than the largest id of the vocabulary and the added tokens.</summary>
    public int Size => _tokens.Count == 0 ? 0 : _tokens.Keys.Max() + 1;

    /// <summary>Whether <paramref name="id"/> is a token of the vocabulary or an added token.</summary>
    public bool Knows(int id) => _tokens.ContainsKey(id);

    /// <summary>The spelling of byte <paramref name="b"/>: <c>&lt;0x41&gt;</c>.</summary>
    public static string ByteToken(int b) => $"<0x{b:X2}>";

    /// <summary>Encodes <paramref name="text"/>; with <paramref name="splitAddedTokens"/> false, added-token text is plain text.</summary>
    public List<EncodedToken> Encode(string text, bool splitAddedTokens)
    {
        var tokens = new List<EncodedToken>();
        if (!splitAddedTokens)
        {
            EncodePiece(text, 0, text.Length, tokens);
            return tokens;
        }

        foreach (var (offset, length) in _addedTokens.PreTokenize(text))
        {
            if (_special.TryGetValue(text.Substring(offset, length), out int id))
            {
                tokens.Add(new EncodedToken(id, text.Substring(offset, length), new Range(offset, offset + length)));
            }
            else
            {
                EncodePiece(text, offset, length, tokens);
            }
        }

        return tokens;
    }

    /// <summary>Decodes ids as a continuation of earlier text: the leading space is kept.</summary>
    public string DecodeContinuation(IEnumerable<int> ids) => Decode(ids, strip: false);

    /// <inheritdoc/>
    public override string Decode(IEnumerable<int> ids) => Decode(ids, strip: true);

    /// <inheritdoc/>
    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed, out int charsWritten)
    {
        ArgumentNullException.ThrowIfNull(ids);
        int[] all = [.. ids];
        string text = Decode(all);
        if (text.Length <= destination.Length)
        {
            text.CopyTo(destination);
            idsConsumed = all.Length;
            charsWritten = text.Length;
            return OperationStatus.Done;
        }

        // Find the longest prefix of ids whose text fits.
        idsConsumed = 0;
        charsWritten = 0;
        for (int count = all.Length - 1; count > 0; count--)
        {
            string part = Decode(all.AsSpan(0, count).ToArray());
            if (part.Length <= destination.Length)
            {
                part.CopyTo(destination);
                idsConsumed = count;
                charsWritten = part.Length;
                break;
            }
        }

        return OperationStatus.DestinationTooSmall;
    }

    /// <inheritdoc/>
    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        string input = text ?? textSpan.ToString();
        var tokens = Encode(input, splitAddedTokens: true);
        int max = settings.MaxTokenCount;
        if (max > 0 && tokens.Count > max)
        {
            tokens.RemoveRange(max, tokens.Count - max);
        }

        int consumed = tokens.Count == 0 ? 0 : tokens[^1].Offset.End.Value;
        return new EncodeResults<EncodedToken> { Tokens = tokens, NormalizedText = null, CharsConsumed = max > 0 && tokens.Count == max ? consumed : input.Length };
    }

    private string Decode(IEnumerable<int> ids, bool strip)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var text = new StringBuilder();
        var bytes = new List<byte>();
        bool first = true;
        foreach (int id in ids)
        {
            if (!_tokens.TryGetValue(id, out string? token))
            {
                continue;
            }

            if (first && strip && DecodedLeadingSpace == LeadingSpace.DropFromFirstToken && !_specialIds.Contains(id))
            {
                token = token.Replace(Space.ToString(), string.Empty, StringComparison.Ordinal);
            }

            first = false;

            if (!_specialIds.Contains(id) && token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
                && byte.TryParse(token.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out byte value))
            {
                bytes.Add(value);
                continue;
            }

            FlushBytes(bytes, text);
            text.Append(_specialIds.Contains(id) ? token : token.Replace(Space, ' '));
        }

        FlushBytes(bytes, text);
        if (strip && DecodedLeadingSpace == LeadingSpace.StripOne && text.Length > 0 && text[0] == ' ')
        {
            text.Remove(0, 1);
        }

        return text.ToString();
    }

    // Hugging Face's ByteFallback decoder: a run of byte tokens that is valid UTF-8 becomes its text, otherwise each byte
    // becomes U+FFFD.
    private static void FlushBytes(List<byte> bytes, StringBuilder text)
    {
        if (bytes.Count == 0)
        {
            return;
        }

        try
        {
            text.Append(new UTF8Encoding(false, throwOnInvalidBytes: true).GetString([.. bytes]));
        }
        catch (DecoderFallbackException)
        {
            text.Append('\uFFFD', bytes.Count);
        }

        bytes.Clear();
    }
}
