using System.Text;
using System.Text.Json.Nodes;
using LmHead.Extensions.Generation;

namespace LmHead.Extensions.Server.OpenAi;

/// <summary>
/// The JSON shapes of one endpoint's answer: the whole response, a streamed chunk, and the usage chunk that ends a
/// stream when <c>stream_options.include_usage</c> is set. One instance per request (it holds the response id).
/// </summary>
internal abstract class OpenAiResponseFormat
{
    protected OpenAiResponseFormat(string idPrefix, string responseObject, string chunkObject, string model)
    {
        Id = idPrefix + Guid.NewGuid().ToString("N");
        Created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        ResponseObject = responseObject;
        ChunkObject = chunkObject;
        Model = model;
    }

    /// <summary>The response id (<c>chatcmpl-…</c> or <c>cmpl-…</c>).</summary>
    internal string Id { get; }

    private long Created { get; }

    private string ResponseObject { get; }

    private string ChunkObject { get; }

    private string Model { get; }

    /// <summary>The whole response.</summary>
    /// <param name="text">The completion.</param>
    /// <param name="logProbabilities">Its tokens' log-probabilities, or <see langword="null"/> when not requested.</param>
    /// <param name="last">The last piece (finish reason and token counts).</param>
    internal JsonObject Response(string text, IReadOnlyList<TokenLogProbability>? logProbabilities, CompletionPiece last)
    {
        var response = Envelope(ResponseObject, Choice(text, logProbabilities, last.FinishReason, streamed: false));
        response["usage"] = Usage(last);
        return response;
    }

    /// <summary>One streamed chunk; <paramref name="logProbabilities"/> is <see langword="null"/> when not requested.</summary>
    internal JsonObject Chunk(string text, IReadOnlyList<TokenLogProbability>? logProbabilities, string? finishReason, bool includeUsage)
    {
        var chunk = Envelope(ChunkObject, Choice(text, logProbabilities, finishReason, streamed: true));
        if (includeUsage)
        {
            chunk["usage"] = null;
        }

        return chunk;
    }

    /// <summary>The chunk that ends a stream with usage: no choices, the token counts.</summary>
    internal JsonObject UsageChunk(CompletionPiece last)
    {
        var chunk = Envelope(ChunkObject, null);
        chunk["usage"] = Usage(last);
        return chunk;
    }

    /// <summary>The endpoint's choice object.</summary>
    protected abstract JsonObject Choice(string text, IReadOnlyList<TokenLogProbability>? logProbabilities, string? finishReason, bool streamed);

    /// <summary>A token's text as UTF-8 byte values (OpenAI's <c>bytes</c>).</summary>
    protected static JsonArray BytesOf(string token) => [.. Encoding.UTF8.GetBytes(token).Select(b => (JsonNode)(int)b)];

    private JsonObject Envelope(string objectName, JsonObject? choice) => new()
    {
        ["id"] = Id,
        ["object"] = objectName,
        ["created"] = Created,
        ["model"] = Model,
        ["system_fingerprint"] = null,
        ["choices"] = choice is null ? new JsonArray() : new JsonArray(choice),
    };

    private static JsonObject Usage(CompletionPiece last) => new()
    {
        ["prompt_tokens"] = last.PromptTokens,
        ["completion_tokens"] = last.CompletionTokens,
        ["total_tokens"] = last.PromptTokens + last.CompletionTokens,
    };
}
