using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using LmHead.Extensions.Generation;
using LmHead.Extensions.SemanticKernel.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace LmHead.Extensions.Server.OpenAi;

/// <summary>Writes an answer, whole or as server-sent events (<c>data: {...}</c>, then <c>data: [DONE]</c>), and errors in OpenAI's shape.</summary>
internal static class OpenAiResponder
{
    /// <summary>JSON as OpenAI writes it: non-ASCII text unescaped (the body is JSON over HTTP, never embedded in HTML).</summary>
    internal static JsonSerializerOptions JsonOptions { get; } = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// Runs the generation and writes its answer. The first piece is awaited before anything is written, so a bad
    /// prompt (too long for the context, ...) still gets a 400 rather than a broken stream.
    /// </summary>
    internal static async Task RespondAsync(
        HttpContext context, OpenAiRequest request, IAsyncEnumerable<CompletionPiece> pieces, OpenAiResponseFormat format, GenerationOperation operation)
    {
        var cancellationToken = context.RequestAborted;
        bool logProbabilities = request.Options.IncludeLogProbabilities;
        await using var pending = pieces.GetAsyncEnumerator(cancellationToken);
        if (!await pending.MoveNextAsync().ConfigureAwait(false))
        {
            throw new InvalidOperationException("The generation ended without a finish reason.");
        }

        CompletionPiece last;
        if (!request.Stream)
        {
            var text = new StringBuilder();
            var tokens = new List<TokenLogProbability>();
            do
            {
                last = pending.Current;
                text.Append(last.Text);
                tokens.AddRange(last.LogProbabilities);
            }
            while (await pending.MoveNextAsync().ConfigureAwait(false));

            operation.Complete(last.FinishReason ?? "stop", last.PromptTokens, last.CompletionTokens);
            await WriteJsonAsync(context.Response, StatusCodes.Status200OK, format.Response(text.ToString(), logProbabilities ? tokens : null, last), cancellationToken).ConfigureAwait(false);
            return;
        }

        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        do
        {
            last = pending.Current;
            if (last.Text.Length > 0 || last.FinishReason is not null || last.LogProbabilities.Count > 0)
            {
                var chunk = format.Chunk(last.Text, logProbabilities ? last.LogProbabilities : null, last.FinishReason, request.IncludeUsage);
                await WriteEventAsync(context.Response, chunk.ToJsonString(JsonOptions), cancellationToken).ConfigureAwait(false);
            }
        }
        while (await pending.MoveNextAsync().ConfigureAwait(false));

        operation.Complete(last.FinishReason ?? "stop", last.PromptTokens, last.CompletionTokens);
        if (request.IncludeUsage)
        {
            await WriteEventAsync(context.Response, format.UsageChunk(last).ToJsonString(JsonOptions), cancellationToken).ConfigureAwait(false);
        }

        await WriteEventAsync(context.Response, "[DONE]", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Answers with an error: 400 for a bad parameter (named in <c>param</c>), 404 for an unknown model or URL, 500
    /// otherwise (logged). Once a stream has started, the error is sent as its last event.
    /// </summary>
    internal static async Task WriteErrorAsync(HttpContext context, Exception exception, OpenAiRequest? request, ILogger logger)
    {
        var error = exception switch
        {
            OpenAiException known => known,
            ArgumentException argument => OpenAiException.BadRequest(OpenAiRequest.MessageOf(argument), request?.RequestKeyOf(argument.ParamName)),
            NotSupportedException notSupported => OpenAiException.BadRequest(notSupported.Message, null),
            _ => new OpenAiException(StatusCodes.Status500InternalServerError, $"The server failed to generate: {exception.Message}", type: "server_error"),
        };
        if (error.StatusCode >= StatusCodes.Status500InternalServerError)
        {
            string path = context.Request.Path;
            ServerLog.RequestFailed(logger, exception, context.Request.Method, path);
        }

        var body = new JsonObject
        {
            ["error"] = new JsonObject
            {
                ["message"] = error.Message,
                ["type"] = error.Type,
                ["param"] = error.Param,
                ["code"] = error.Code,
            },
        };
        if (context.Response.HasStarted)
        {
            await WriteEventAsync(context.Response, body.ToJsonString(JsonOptions), context.RequestAborted).ConfigureAwait(false);
            return;
        }

        await WriteJsonAsync(context.Response, error.StatusCode, body, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>Writes a JSON answer with a status code.</summary>
    internal static async Task WriteJsonAsync(HttpResponse response, int statusCode, JsonObject body, CancellationToken cancellationToken)
    {
        response.StatusCode = statusCode;
        response.ContentType = "application/json";
        await response.WriteAsync(body.ToJsonString(JsonOptions), cancellationToken).ConfigureAwait(false);
    }

    private static async Task WriteEventAsync(HttpResponse response, string data, CancellationToken cancellationToken)
    {
        await response.WriteAsync($"data: {data}\n\n", cancellationToken).ConfigureAwait(false);
        await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
    }
}
