using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;

namespace LmHead.Extensions.SemanticKernel.Services;

/// <summary>
/// The documented reply shape of a chat request with tools: the model writes one JSON object, constrained by a grammar
/// built from the tools' parameter schemas, either <c>{"tool": "&lt;name&gt;", "arguments": {…}}</c> (a call of one of the
/// tools, its arguments matching that tool's schema) or <c>{"answer": "&lt;text&gt;"}</c> (a plain answer; not offered
/// when the tool mode requires a call). Calls in the conversation's history are rendered back in the same shape, and a
/// tool's result as <c>{"tool": "&lt;name&gt;", "result": …}</c> in a <c>Tool</c> turn, so the model sees its own format.
/// </summary>
public static class ToolCallFormat
{
    /// <summary>The property holding the called tool's name.</summary>
    public const string ToolProperty = "tool";

    /// <summary>The property holding a call's arguments.</summary>
    public const string ArgumentsProperty = "arguments";

    /// <summary>The property holding a plain answer.</summary>
    public const string AnswerProperty = "answer";

    /// <summary>The property holding a tool's result in the history.</summary>
    public const string ResultProperty = "result";

    /// <summary>The function declarations among <paramref name="tools"/> a request offers under <paramref name="mode"/> (none for <see cref="ChatToolMode.None"/>).</summary>
    /// <param name="tools">The request's tools.</param>
    /// <param name="mode">The request's tool mode (<see langword="null"/> means automatic).</param>
    /// <returns>The offered declarations, in order.</returns>
    /// <exception cref="NotSupportedException">A tool is not a function declaration, or a required function is not among the tools.</exception>
    /// <exception cref="ArgumentException">Two tools share a name.</exception>
    public static IReadOnlyList<AIFunctionDeclaration> OfferedFunctions(IList<AITool>? tools, ChatToolMode? mode)
    {
        if (tools is null || tools.Count == 0 || mode is NoneChatToolMode)
        {
            return [];
        }

        var functions = new List<AIFunctionDeclaration>();
        foreach (var tool in tools)
        {
            functions.Add(tool as AIFunctionDeclaration
                ?? throw new NotSupportedException($"The LmHead chat client calls function tools only; '{tool?.Name}' is a {tool?.GetType().Name}."));
        }

        var duplicate = functions.GroupBy(f => f.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"ChatOptions.Tools holds two tools named '{duplicate.Key}'; tool names must be unique.", nameof(tools));
        }

        if (mode is RequiredChatToolMode { RequiredFunctionName: { } required })
        {
            var function = functions.FirstOrDefault(f => f.Name == required)
                ?? throw new NotSupportedException($"ChatToolMode requires the function '{required}', which is not among ChatOptions.Tools ({string.Join(", ", functions.Select(f => f.Name))}).");
            return [function];
        }

        return functions;
    }

    /// <summary>The JSON Schema every reply must match: one call per offered function, plus a plain answer unless a call is required.</summary>
    /// <param name="functions">The offered functions (at least one).</param>
    /// <param name="callRequired">Whether the reply must be a call.</param>
    /// <returns>The schema as JSON text.</returns>
    /// <exception cref="ArgumentException"><paramref name="functions"/> is empty.</exception>
    public static string ReplySchema(IReadOnlyList<AIFunctionDeclaration> functions, bool callRequired)
    {
        ArgumentNullException.ThrowIfNull(functions);
        if (functions.Count == 0)
        {
            throw new ArgumentException("At least one function is needed for a tool-call reply schema.", nameof(functions));
        }

        var choices = new JsonArray();
        foreach (var function in functions)
        {
            choices.Add(new JsonObject
            {
                ["type"] = "object",
                ["properties"] = new JsonObject
                {
                    [ToolProperty] = new JsonObject { ["const"] = function.Name },
                    [ArgumentsProperty] = ArgumentsSchema(function),
                },
                ["required"] = new JsonArray(ToolProperty, ArgumentsProperty),
                ["additionalProperties"] = false,
            });
        }

        if (!callRequired)
        {
            choices.Add(new JsonObject
            {
                ["type"] = "object",
                ["properties"] = new JsonObject { [AnswerProperty] = new JsonObject { ["type"] = "string" } },
                ["required"] = new JsonArray(AnswerProperty),
                ["additionalProperties"] = false,
            });
        }

        return new JsonObject { ["anyOf"] = choices }.ToJsonString();
    }

    /// <summary>Instructions that tell the model the tools and the reply shape (added to the conversation's system text).</summary>
    /// <param name="functions">The offered functions.</param>
    /// <param name="callRequired">Whether the reply must be a call.</param>
    /// <param name="listTools">Whether to list the tools (not when a chat template lists them its own way).</param>
    /// <returns>The instructions.</returns>
    public static string Instructions(IReadOnlyList<AIFunctionDeclaration> functions, bool callRequired, bool listTools = true)
    {
        ArgumentNullException.ThrowIfNull(functions);
        var text = new StringBuilder(listTools ? "You can call these tools:" : "To use a tool:");
        foreach (var function in listTools ? functions : [])
        {
            text.Append("\n- ").Append(function.Name);
            if (!string.IsNullOrWhiteSpace(function.Description))
            {
                text.Append(": ").Append(function.Description.Trim());
            }

            text.Append(" Arguments: ").Append(ArgumentsSchema(function).ToJsonString());
        }

        text.Append(listTools ? "\n" : " ").Append("Reply with one JSON object: {\"").Append(ToolProperty).Append("\": <name>, \"").Append(ArgumentsProperty).Append("\": {...}} to call a tool");
        text.Append(callRequired ? "." : $", or {{\"{AnswerProperty}\": <text>}} to answer.");
        return text.ToString();
    }

    /// <summary>Reads a reply written in the shape of <see cref="ReplySchema"/>.</summary>
    /// <param name="reply">The model's reply.</param>
    /// <param name="callId">The call id to give a tool call.</param>
    /// <returns>A <see cref="FunctionCallContent"/> for a call, a <see cref="TextContent"/> for an answer.</returns>
    /// <exception cref="FormatException">The reply is not in the shape (for example a generation cut off by the token limit).</exception>
    public static AIContent ParseReply(string reply, string callId)
    {
        ArgumentNullException.ThrowIfNull(reply);
        JsonObject? json;
        try
        {
            json = JsonNode.Parse(reply) as JsonObject;
        }
        catch (JsonException ex)
        {
            throw new FormatException($"The tool-call reply is not complete JSON (was the token limit reached?): {Shorten(reply)}", ex);
        }

        if (json?[ToolProperty] is JsonValue name && name.TryGetValue(out string? tool) && json[ArgumentsProperty] is JsonObject arguments)
        {
            var values = JsonSerializer.Deserialize<Dictionary<string, object?>>(arguments.ToJsonString()) ?? [];
            return new FunctionCallContent(callId, tool, values);
        }

        if (json?[AnswerProperty] is JsonValue answer && answer.TryGetValue(out string? text))
        {
            return new TextContent(text);
        }

        throw new FormatException($"The tool-call reply is neither a call nor an answer: {Shorten(reply)}");
    }

    /// <summary>A call from the history, in the reply shape.</summary>
    /// <param name="call">The call.</param>
    /// <returns>The JSON text the model would have written.</returns>
    public static string RenderCall(FunctionCallContent call)
    {
        ArgumentNullException.ThrowIfNull(call);
        var arguments = call.Arguments is null ? new JsonObject() : JsonSerializer.SerializeToNode(call.Arguments) ?? new JsonObject();
        return new JsonObject { [ToolProperty] = call.Name, [ArgumentsProperty] = arguments }.ToJsonString();
    }

    /// <summary>A tool's result from the history.</summary>
    /// <param name="name">The called tool's name (from the call with the same id), or <see langword="null"/> when unknown.</param>
    /// <param name="result">The result.</param>
    /// <returns>The JSON text of the tool turn.</returns>
    public static string RenderResult(string? name, FunctionResultContent result)
    {
        ArgumentNullException.ThrowIfNull(result);
        JsonNode? value = result.Exception is { } error
            ? JsonValue.Create($"error: {error.Message}")
            : result.Result switch
            {
                null => null,
                JsonElement element => JsonNode.Parse(element.GetRawText()),
                string s => JsonValue.Create(s),
                var other => JsonSerializer.SerializeToNode(other, other.GetType()),
            };
        var turn = new JsonObject();
        if (name is not null)
        {
            turn[ToolProperty] = name;
        }

        turn[ResultProperty] = value;
        return turn.ToJsonString();
    }

    private static JsonObject ArgumentsSchema(AIFunctionDeclaration function)
    {
        // A function without parameters has no schema worth constraining: an empty object.
        var schema = function.JsonSchema.ValueKind == JsonValueKind.Object ? JsonNode.Parse(function.JsonSchema.GetRawText())!.AsObject() : null;
        if (schema is null || (schema["properties"] is null && schema["type"] is null))
        {
            return new JsonObject { ["type"] = "object", ["properties"] = new JsonObject(), ["additionalProperties"] = false };
        }

        // Not constraints: JSON Schema's meta keywords, and the empty "condition" Semantic Kernel writes into a kernel
        // function's parameter schema.
        schema.Remove("$schema");
        schema.Remove("title");
        schema.Remove("condition");
        return schema;
    }

    private static string Shorten(string text) => text.Length <= 200 ? text : string.Concat(text.AsSpan(0, 200), "…");
}
