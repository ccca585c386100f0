using LmHead.Extensions.Tokenization;
using Microsoft.ML.Tokenizers;

namespace LmHead.Extensions.Generation;

/// <summary>
/// Turns a stream of token ids into a stream of text without splitting a character: byte-level BPE tokens can end in
/// the middle of a UTF-8 sequence (an emoji or CJK character spans several tokens), which decodes to U+FFFD until the
/// rest arrives. The decoder re-decodes only the tokens since the last clean boundary and releases text up to the first
/// trailing U+FFFD, so nothing is released twice and no replacement character comes from a split.
/// </summary>
internal sealed class IncrementalTextDecoder
{
    private const char Replacement = '\uFFFD';
    private readonly Tokenizer _tokenizer;
    private readonly List<int> _pending = [];
    private int _released;
    private bool _continuation;
    private int _previous = -1;

    internal IncrementalTextDecoder(Tokenizer tokenizer) => _tokenizer = tokenizer;

    /// <summary>Adds a token and returns the text that became final.</summary>
    /// <exception cref="InvalidOperationException">The tokenizer cannot decode <paramref name="tokenId"/> (a model vocabulary wider than the tokenizer's).</exception>
    internal string Push(int tokenId)
    {
        if (!TokenizerVocabulary.Knows(_tokenizer, tokenId))
        {
            // The tokenizer would decode it to nothing: the text would silently miss a token.
            throw new InvalidOperationException(
                $"The model chose token id {tokenId}, which the tokenizer ({_tokenizer.GetType().Name}) cannot decode: its vocabulary has {TokenizerVocabulary.Size(_tokenizer)} tokens. The model's vocabulary is wider than the tokenizer's; is the tokenizer the one the model was trained with?");
        }

        _pending.Add(tokenId);
        string text = DecodePending();
        int stable = text.Length;
        while (stable > 0 && text[stable - 1] == Replacement)
        {
            stable--;
        }

        // A later token can only complete the trailing partial character, never change what precedes it.
        string released = stable > _released ? text[_released..stable] : "";
        _released = Math.Max(_released, stable);
        if (stable == text.Length)
        {
            _previous = _pending[^1];
            _pending.Clear();
            _released = 0;
            _continuation = true;
        }

        return released;
    }

    /// <summary>At the end: releases whatever is left (a genuinely incomplete character comes out as U+FFFD).</summary>
    internal string Flush()
    {
        if (_pending.Count == 0)
        {
            return "";
        }

        string text = DecodePending();
        _pending.Clear();
        string rest = text.Length > _released ? text[_released..] : "";
        _released = 0;
        return rest;
    }

    // A SentencePiece tokenizer strips the leading space of what it decodes (the "▁" the encoder prepended); past the
    // first chunk that space is real text between words, so later chunks decode as continuations.
    // Microsoft.ML.Tokenizers' SentencePieceTokenizer (a tokenizer.model) has no such call: the pending tokens are decoded
    // after the last token released, whose own text is then cut off (it ended on a whole character, so the cut is exact).
    private string DecodePending()
    {
        if (!_continuation)
        {
            return _tokenizer.Decode(_pending);
        }

        if (_tokenizer is SentencePieceBpeTokenizer sentencePiece)
        {
            return sentencePiece.DecodeContinuation(_pending);
        }

        if (_tokenizer is SentencePieceTokenizer && _previous >= 0)
        {
            string before = _tokenizer.Decode([_previous]);
            string both = _tokenizer.Decode([_previous, .. _pending]);
            if (both.StartsWith(before, StringComparison.Ordinal))
            {
                return both[before.Length..];
            }
        }

        return _tokenizer.Decode(_pending);
    }
}
