using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using LmHead.Extensions.Generation;
using LmHead.Extensions.SemanticKernel.Diagnostics;
using LmHead.Extensions.SemanticKernel.Services;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LmHead.Extensions.Server.OpenAi;

/// <summary>The request handlers of the OpenAI-compatible endpoints.</summary>
internal static class OpenAiEndpoints
{
    /// <summary>The logger category of the server.</summary>
    internal const string LoggerCategory = "LmHead.Extensions.Server";

    /// <summary><c>GET /v1/models</c>: the served models.</summary>
    internal static Task ListModelsAsync(HttpContext context) => OpenAiResponder.WriteJsonAsync(context.Response, StatusCodes.Status200OK, new JsonObject
    {
        ["object"] = "list",
        ["data"] = new JsonArray([.. context.RequestServices.GetServices<ServedModel>().Select(m => (JsonNode)Describe(m))]),
    }, context.RequestAborted);

    /// <summary><c>GET /v1/models/{id}</c>: one served model, or 404.</summary>
    internal static async Task GetModelAsync(HttpContext context, string id)
    {
        try
        {
            await OpenAiResponder.WriteJsonAsync(context.Response, StatusCodes.Status200OK, Describe(Resolve(context, id)), context.RequestAborted).ConfigureAwait(false);
        }
        catch (OpenAiException ex)
        {
            await OpenAiResponder.WriteErrorAsync(context, ex, null, Logger(context)).ConfigureAwait(false);
        }
    }

    /// <summary><c>POST /v1/chat/completions</c>: the conversation through the model's <see cref="IChatClient"/> (<see cref="LmHeadChatClient"/>).</summary>
    internal static Task ChatCompletionsAsync(HttpContext context) => HandleAsync(context, GenerationOperation.Chat, OpenAiRequest.ReadChat, (model, request) =>
    {
        var client = context.RequestServices.GetRequiredKeyedService<IChatClient>(model.ServiceKey);
        return (ChatPieces(client, request, context.RequestAborted), new ChatCompletionFormat(model.Id));
    });

    /// <summary><c>POST /v1/completions</c>: the prompt through the model's <see cref="TextGenerator"/>.</summary>
    internal static Task CompletionsAsync(HttpContext context) => HandleAsync(context, GenerationOperation.TextCompletion, OpenAiRequest.ReadCompletion, (model, request) =>
    {
        var generator = context.RequestServices.GetRequiredKeyedService<IChatClient>(model.ServiceKey).GetService<TextGenerator>()
            ?? throw new InvalidOperationException($"The chat client of model '{model.Id}' offers no TextGenerator.");
        return (TextPieces(generator, request, context.RequestAborted), new TextCompletionFormat(model.Id));
    });

    /// <summary>Any other URL under the prefix: 404 in OpenAI's shape.</summary>
    internal static Task UnknownUrlAsync(HttpContext context) => OpenAiResponder.WriteErrorAsync(
        context, new OpenAiException(StatusCodes.Status404NotFound, $"Unknown request URL: {context.Request.Method} {context.Request.Path}.", code: "unknown_url"), null, Logger(context));

    private static async Task HandleAsync(
        HttpContext context, string operationName, Func<JsonObject, OpenAiRequest> read,
        Func<ServedModel, OpenAiRequest, (IAsyncEnumerable<CompletionPiece> Pieces, OpenAiResponseFormat Format)> run)
    {
        var logger = Logger(context);
        OpenAiRequest? request = null;
        try
        {
            request = read(await OpenAiRequest.ReadBodyAsync(context.Request, context.RequestAborted).ConfigureAwait(false));
            var model = Resolve(context, request.Model);
            var (pieces, format) = run(model, request);
            using var operation = GenerationOperation.Start(operationName, model.Id, request.Options, logger);
            try
            {
                await OpenAiResponder.RespondAsync(context, request, pieces, format, operation).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                operation.Fail(ex);
                throw;
            }
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            string path = context.Request.Path;
            ServerLog.ClientDisconnected(logger, context.Request.Method, path);
        }
        catch (Exception ex)
        {
            await OpenAiResponder.WriteErrorAsync(context, ex, request, logger).ConfigureAwait(false);
        }
    }

    private static async IAsyncEnumerable<CompletionPiece> ChatPieces(
        IChatClient client, OpenAiRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // The options travel as the chat client's additional properties, which it reads with the same JSON mapping.
        var options = new ChatOptions { AdditionalProperties = [] };
        foreach (var (key, value) in GenerationOptionsJson.Write(request.Options))
        {
            options.AdditionalProperties[key] = value;
        }

        await foreach (var update in client.GetStreamingResponseAsync(request.Messages, options, cancellationToken).ConfigureAwait(false))
        {
            var tokens = update.AdditionalProperties?.TryGetValue(LmHeadMetadataKeys.LogProbabilities, out object? value) == true
                && value is IReadOnlyList<TokenLogProbability> list ? list : [];
            var usage = update.Contents.OfType<UsageContent>().FirstOrDefault()?.Details;
            string? finish = update.FinishReason is not { } reason ? null : reason == ChatFinishReason.Length ? "length" : "stop";
            yield return new CompletionPiece(update.Text, tokens, finish, (int)(usage?.InputTokenCount ?? 0), (int)(usage?.OutputTokenCount ?? 0));
        }
    }

    private static async IAsyncEnumerable<CompletionPiece> TextPieces(
        TextGenerator generator, OpenAiRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var chunk in generator.GenerateStreamingAsync(request.Prompt, request.Options, cancellationToken).ConfigureAwait(false))
        {
            string? finish = chunk.FinishReason is { } reason ? GenerationOperation.FinishReasonName(reason) : null;
            yield return new CompletionPiece(chunk.Text, chunk.LogProbabilities, finish, chunk.PromptTokenCount, chunk.CompletionTokenCount);
        }
    }

    private static ServedModel Resolve(HttpContext context, string id)
    {
        var models = context.RequestServices.GetServices<ServedModel>().ToList();
        return models.FirstOrDefault(m => string.Equals(m.Id, id, StringComparison.Ordinal))
            ?? throw new OpenAiException(StatusCodes.Status404NotFound,
                $"The model '{id}' does not exist; this server serves: {string.Join(", ", models.Select(m => m.Id))}.", "model", "model_not_found");
    }

    private static JsonObject Describe(ServedModel model) => new()
    {
        ["id"] = model.Id,
        ["object"] = "model",
        ["created"] = model.Created.ToUnixTimeSeconds(),
        ["owned_by"] = LmHeadTelemetry.ProviderName,
    };

    private static ILogger Logger(HttpContext context) =>
        context.RequestServices.GetService<ILoggerFactory>()?.CreateLogger(LoggerCategory) ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
}
