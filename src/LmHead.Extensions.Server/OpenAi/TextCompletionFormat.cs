using System.Text.Json.Nodes;
using LmHead.Extensions.Generation;

namespace LmHead.Extensions.Server.OpenAi;

/// <summary>
/// <c>text_completion</c> (whole and streamed): the completion in <c>text</c>, log-probabilities in the legacy form
/// (<c>tokens</c>, <c>token_logprobs</c>, <c>top_logprobs</c> as token → log-probability, <c>text_offset</c>).
/// </summary>
internal sealed class TextCompletionFormat(string model) : OpenAiResponseFormat("cmpl-", "text_completion", "text_completion", model)
{
    // text_offset counts from the start of the completion across the chunks of a stream.
    private int _offset;

    protected override JsonObject Choice(string text, IReadOnlyList<TokenLogProbability>? logProbabilities, string? finishReason, bool streamed) => new()
    {
        ["text"] = text,
        ["index"] = 0,
        ["logprobs"] = logProbabilities is null ? null : LogProbabilities(logProbabilities),
        ["finish_reason"] = finishReason,
    };

    private JsonObject LogProbabilities(IReadOnlyList<TokenLogProbability> tokens)
    {
        var offsets = new JsonArray();
        foreach (var token in tokens)
        {
            offsets.Add(_offset);
            _offset += token.Text.Length;
        }

        return new JsonObject
        {
            ["tokens"] = new JsonArray([.. tokens.Select(t => (JsonNode)t.Text)]),
            ["token_logprobs"] = new JsonArray([.. tokens.Select(t => (JsonNode)t.LogProbability)]),
            ["top_logprobs"] = new JsonArray([.. tokens.Select(t => (JsonNode)Alternatives(t))]),
            ["text_offset"] = offsets,
        };
    }

    private static JsonObject Alternatives(TokenLogProbability token)
    {
        var alternatives = new JsonObject();
        foreach (var alternative in token.TopAlternatives)
        {
            // Two ids can decode to the same text (a partial UTF-8 byte shows as U+FFFD); the likelier one is kept.
            alternatives.TryAdd(alternative.Text, alternative.LogProbability);
        }

        return alternatives;
    }
}
