using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Generation;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;

namespace LmHead.Extensions.Server.OpenAi;

/// <summary>
/// An OpenAI request body read into what the server runs: the model id, streaming flags, the chat messages or the
/// prompt, and <see cref="GenerationOptions"/> read by <see cref="GenerationOptionsJson.Read"/> (the one option mapping)
/// after renaming OpenAI's spellings (<c>stop</c>, <c>max_completion_tokens</c>, the legacy integer <c>logprobs</c>).
/// </summary>
internal sealed class OpenAiRequest
{
    // Keys the protocol interprets (or that change nothing for a local model); the rest are generation options.
    private static readonly string[] s_protocolKeys =
        ["model", "messages", "prompt", "stream", "stream_options", "n", "user", "store", "metadata", "service_tier", "parallel_tool_calls"];

    // Options a client may not set on a shared server: a special token's text in user content stays plain text.
    private static readonly string[] s_serverOnlyKeys = ["allow_special_tokens"];

    // C# property names (what ArgumentOutOfRangeException names) → their JSON keys.
    private static readonly Dictionary<string, string> s_propertyKeys = typeof(GenerationOptions).GetProperties()
        .Concat(typeof(DecodingOptions).GetProperties())
        .Select(p => (p.Name, Key: p.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name))
        .Where(p => p.Key is not null)
        .ToDictionary(p => p.Name, p => p.Key!, StringComparer.Ordinal);

    private readonly Dictionary<string, string> _requestKeys;

    private OpenAiRequest(string model, Dictionary<string, string> requestKeys)
    {
        Model = model;
        _requestKeys = requestKeys;
    }

    /// <summary>The requested model id.</summary>
    internal string Model { get; }

    /// <summary>Whether to answer with server-sent events.</summary>
    internal bool Stream { get; private init; }

    /// <summary>Whether a streamed answer ends with a usage chunk (<c>stream_options.include_usage</c>).</summary>
    internal bool IncludeUsage { get; private init; }

    /// <summary>The generation options.</summary>
    internal GenerationOptions Options { get; private init; } = new();

    /// <summary>The conversation of a chat request.</summary>
    internal IReadOnlyList<ChatMessage> Messages { get; private init; } = [];

    /// <summary>The prompt of a completion request.</summary>
    internal string Prompt { get; private init; } = "";

    /// <summary>Reads the body as a JSON object.</summary>
    /// <exception cref="OpenAiException">The body is not a JSON object.</exception>
    internal static async Task<JsonObject> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        JsonNode? body;
        try
        {
            body = await JsonNode.ParseAsync(request.Body, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (JsonException ex)
        {
            throw OpenAiException.BadRequest($"The request body is not valid JSON: {ex.Message}", null);
        }

        return body as JsonObject ?? throw OpenAiException.BadRequest("The request body must be a JSON object.", null);
    }

    /// <summary>Reads a <c>/v1/chat/completions</c> body.</summary>
    /// <exception cref="OpenAiException">A parameter is missing, invalid or unsupported; the error names it.</exception>
    internal static OpenAiRequest ReadChat(JsonObject body)
    {
        var keys = new Dictionary<string, string>(StringComparer.Ordinal) { ["prompt"] = "messages" };
        return new OpenAiRequest(ReadModel(body), keys)
        {
            Stream = ReadStream(body, out bool includeUsage),
            IncludeUsage = includeUsage,
            Messages = ChatMessageReader.Read(body["messages"]),
            Options = ReadOptions(body, keys, legacyLogprobs: false),
        };
    }

    /// <summary>Reads a <c>/v1/completions</c> body.</summary>
    /// <exception cref="OpenAiException">A parameter is missing, invalid or unsupported; the error names it.</exception>
    internal static OpenAiRequest ReadCompletion(JsonObject body)
    {
        var keys = new Dictionary<string, string>(StringComparer.Ordinal);
        string prompt = body["prompt"] switch
        {
            JsonValue value when value.TryGetValue(out string? text) => text,
            JsonArray { Count: 1 } array when array[0] is JsonValue value && value.TryGetValue(out string? text) => text,
            null => throw OpenAiException.BadRequest("The parameter 'prompt' is required.", "prompt"),
            _ => throw OpenAiException.BadRequest("The parameter 'prompt' must be a string (or a list of one string; token-id prompts and batches are not supported).", "prompt"),
        };
        return new OpenAiRequest(ReadModel(body), keys)
        {
            Stream = ReadStream(body, out bool includeUsage),
            IncludeUsage = includeUsage,
            Prompt = prompt,
            Options = ReadOptions(body, keys, legacyLogprobs: true),
        };
    }

    /// <summary>The request parameter an exception from the options or the generator is about, as the client wrote it.</summary>
    internal string? RequestKeyOf(string? paramName) => RequestKeyOf(_requestKeys, paramName);

    private static string? RequestKeyOf(Dictionary<string, string> requestKeys, string? paramName)
    {
        if (paramName is null)
        {
            return null;
        }

        string key = s_propertyKeys.GetValueOrDefault(paramName, paramName);
        return requestKeys.GetValueOrDefault(key, key);
    }

    private static string ReadModel(JsonObject body) => body["model"] switch
    {
        JsonValue value when value.TryGetValue(out string? model) && model.Length > 0 => model,
        null => throw OpenAiException.BadRequest("The parameter 'model' is required.", "model"),
        _ => throw OpenAiException.BadRequest("The parameter 'model' must be a non-empty string.", "model"),
    };

    private static bool ReadStream(JsonObject body, out bool includeUsage)
    {
        if (body["n"] is { } n && !(n is JsonValue single && single.TryGetValue(out int count) && count == 1))
        {
            throw OpenAiException.BadRequest($"The parameter 'n' must be 1 (this server returns one choice per request), but was {n.ToJsonString()}.", "n");
        }

        includeUsage = body["stream_options"] is JsonObject streamOptions
            && streamOptions["include_usage"] is JsonValue usage && usage.TryGetValue(out bool include) && include;
        return body["stream"] switch
        {
            null => false,
            JsonValue value when value.TryGetValue(out bool stream) => stream,
            var other => throw OpenAiException.BadRequest($"The parameter 'stream' must be true or false, but was {other.ToJsonString()}.", "stream"),
        };
    }

    private static GenerationOptions ReadOptions(JsonObject body, Dictionary<string, string> requestKeys, bool legacyLogprobs)
    {
        var options = new JsonObject();
        foreach (var (key, value) in body)
        {
            if (s_protocolKeys.Contains(key, StringComparer.Ordinal))
            {
                continue;
            }

            if (s_serverOnlyKeys.Contains(key, StringComparer.OrdinalIgnoreCase))
            {
                throw OpenAiException.BadRequest($"The parameter '{key}' cannot be set through the server.", key);
            }

            string target = key switch
            {
                "stop" => "stop_sequences",
                "max_completion_tokens" => "max_tokens",
                _ => key,
            };
            if (options.ContainsKey(target))
            {
                throw OpenAiException.BadRequest($"The parameters '{key}' and '{requestKeys[target]}' mean the same thing; set one of them.", key);
            }

            requestKeys[target] = key;
            options[target] = value?.DeepClone();
        }

        // The legacy completions API spells "logprobs": 3 for "the log-probabilities and the 3 likeliest alternatives".
        if (legacyLogprobs && options["logprobs"] is JsonValue legacy && legacy.TryGetValue(out int alternatives))
        {
            options["logprobs"] = true;
            options["top_logprobs"] = alternatives;
            requestKeys["top_logprobs"] = "logprobs";
        }

        try
        {
            return GenerationOptionsJson.Read(options);
        }
        catch (ArgumentException ex)
        {
            throw OpenAiException.BadRequest(MessageOf(ex), RequestKeyOf(requestKeys, ex.ParamName));
        }
    }

    /// <summary>An argument exception's message without the "(Parameter 'x')" and "Actual value was" lines .NET appends.</summary>
    internal static string MessageOf(ArgumentException exception)
    {
        string message = exception.Message;
        int cut = exception.ParamName is { } name ? message.IndexOf($" (Parameter '{name}')", StringComparison.Ordinal) : -1;
        return cut >= 0 ? message[..cut] : message;
    }
}
