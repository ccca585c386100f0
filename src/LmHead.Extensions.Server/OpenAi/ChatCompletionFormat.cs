using System.Text.Json.Nodes;
using LmHead.Extensions.Generation;

namespace LmHead.Extensions.Server.OpenAi;

/// <summary><c>chat.completion</c> and <c>chat.completion.chunk</c>: the reply in <c>message</c> / <c>delta</c>, log-probabilities under <c>logprobs.content</c>.</summary>
internal sealed class ChatCompletionFormat(string model) : OpenAiResponseFormat("chatcmpl-", "chat.completion", "chat.completion.chunk", model)
{
    private bool _roleSent;

    protected override JsonObject Choice(string text, IReadOnlyList<TokenLogProbability>? logProbabilities, string? finishReason, bool streamed)
    {
        var message = new JsonObject();
        if (!streamed || !_roleSent)
        {
            message["role"] = "assistant";
            _roleSent = true;
        }

        if (!streamed || text.Length > 0 || finishReason is null)
        {
            message["content"] = text;
        }

        if (!streamed)
        {
            message["refusal"] = null;
        }

        return new JsonObject
        {
            ["index"] = 0,
            [streamed ? "delta" : "message"] = message,
            ["logprobs"] = logProbabilities is null ? null : new JsonObject
            {
                ["content"] = new JsonArray([.. logProbabilities.Select(Token)]),
                ["refusal"] = null,
            },
            ["finish_reason"] = finishReason,
        };
    }

    private static JsonObject Token(TokenLogProbability token) => new()
    {
        ["token"] = token.Text,
        ["logprob"] = token.LogProbability,
        ["bytes"] = BytesOf(token.Text),
        ["top_logprobs"] = new JsonArray([.. token.TopAlternatives.Select(a => (JsonNode)new JsonObject
        {
            ["token"] = a.Text,
            ["logprob"] = a.LogProbability,
            ["bytes"] = BytesOf(a.Text),
        })]),
    };
}
