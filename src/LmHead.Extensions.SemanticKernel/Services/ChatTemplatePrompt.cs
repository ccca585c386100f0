using System.Text.Json;
using System.Text.Json.Nodes;
using LmHead.Extensions.Chat;
using Microsoft.Extensions.AI;

namespace LmHead.Extensions.SemanticKernel.Services;

/// <summary>
/// Renders a Microsoft.Extensions.AI conversation with a model folder's chat template: messages become Hugging Face's
/// message dicts (<c>role</c>, <c>content</c>, <c>tool_calls</c>, <c>tool_call_id</c>), tools become OpenAI function
/// schemas, and old exchanges are dropped, oldest first, until the prompt fits the token budget.
/// </summary>
internal static class ChatTemplatePrompt
{
    /// <summary>Renders the prompt; with <paramref name="countTokens"/>, drops whole old exchanges to fit <paramref name="maxTokens"/>.</summary>
    /// <exception cref="ArgumentException">A message or content item is null (the message names its index).</exception>
    /// <exception cref="NotSupportedException">A message holds content other than text, function calls and function results, or a tool is not a function.</exception>
    /// <exception cref="ChatTemplateException">The template raised an error (roles that do not alternate, ...).</exception>
    public static string Render(
        ChatTemplate template, ChatModelMetadata metadata, IEnumerable<ChatMessage> messages, string? instructions, IList<AITool>? tools,
        Func<string, int>? countTokens, int maxTokens)
    {
        var turns = Messages(messages, instructions);
        var toolSchemas = tools is { Count: > 0 } ? Tools(tools) : null;
        string RenderTurns(IEnumerable<JsonObject> kept) => template.Render(
            [.. kept.Select(t => t.DeepClone())],
            new ChatTemplateOptions
            {
                AddGenerationPrompt = true,
                Tools = (JsonArray?)toolSchemas?.DeepClone(),
                BosToken = metadata.BosToken,
                EosToken = metadata.EosToken,
            });

        if (countTokens is null)
        {
            return RenderTurns(turns);
        }

        // The exchanges that may go, oldest first, as the turns each removes; dropping k of them leaves the others.
        var exchanges = new List<JsonObject[]>();
        var remaining = new List<JsonObject>(turns);
        while (OldestExchange(remaining) is var (start, count) && count > 0)
        {
            exchanges.Add([.. remaining.GetRange(start, count)]);
            remaining.RemoveRange(start, count);
        }

        string Render(int drops)
        {
            var dropped = new HashSet<JsonObject>(exchanges.Take(drops).SelectMany(e => e), ReferenceEqualityComparer.Instance);
            return RenderTurns(turns.Where(t => !dropped.Contains(t)));
        }

        return PromptBudget.FewestDrops(Render, exchanges.Count, countTokens, maxTokens);
    }

    // The oldest exchange that may go: from the first non-system message up to the next user message, never the last
    // message (templates such as Mistral's require user/assistant alternation, so whole exchanges are dropped).
    private static (int Start, int Count) OldestExchange(List<JsonObject> turns)
    {
        int start = turns.FindIndex(t => (string?)t["role"] != "system");
        if (start < 0)
        {
            return (0, 0);
        }

        int end = turns.FindIndex(start + 1, t => (string?)t["role"] == "user");
        return end > start && end <= turns.Count - 1 ? (start, end - start) : (0, 0);
    }

    private static List<JsonObject> Messages(IEnumerable<ChatMessage> messages, string? instructions)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var turns = new List<JsonObject>();
        if (!string.IsNullOrEmpty(instructions))
        {
            turns.Add(new JsonObject { ["role"] = "system", ["content"] = instructions });
        }

        int index = 0;
        foreach (var message in messages)
        {
            if (message is null)
            {
                throw new ArgumentException($"messages[{index}] is null; every message of the conversation must be a ChatMessage.", nameof(messages));
            }

            var text = new System.Text.StringBuilder();
            var calls = new JsonArray();
            int contentIndex = 0;
            foreach (var content in message.Contents)
            {
                switch (content)
                {
                    case null:
                        throw new ArgumentException($"messages[{index}].Contents[{contentIndex}] is null.", nameof(messages));
                    case TextContent t:
                        text.Append(t.Text);
                        break;
                    case FunctionCallContent call:
                        calls.Add(new JsonObject
                        {
                            ["id"] = call.CallId,
                            ["type"] = "function",
                            ["function"] = new JsonObject { ["name"] = call.Name, ["arguments"] = JsonSerializer.SerializeToNode(call.Arguments ?? new Dictionary<string, object?>()) },
                        });
                        break;
                    case FunctionResultContent result:
                        turns.Add(new JsonObject
                        {
                            ["role"] = "tool",
                            ["tool_call_id"] = result.CallId,
                            ["content"] = result.Result as string ?? JsonSerializer.Serialize(result.Result),
                        });
                        break;
                    default:
                        throw new NotSupportedException(
                            $"The LmHead chat client renders text, function calls and function results only; messages[{index}] ({message.Role}) holds {content.GetType().Name} at Contents[{contentIndex}].");
                }

                contentIndex++;
            }

            if (text.Length > 0 || calls.Count > 0 || !message.Contents.OfType<FunctionResultContent>().Any())
            {
                var turn = new JsonObject { ["role"] = message.Role.Value, ["content"] = text.ToString() };
                if (calls.Count > 0)
                {
                    turn["tool_calls"] = calls;
                }

                turns.Add(turn);
            }

            index++;
        }

        return turns;
    }

    private static JsonArray Tools(IList<AITool> tools)
    {
        var schemas = new JsonArray();
        foreach (var tool in tools)
        {
            if (tool is not AIFunctionDeclaration function)
            {
                throw new NotSupportedException($"The LmHead chat client passes function tools to the chat template only; '{tool?.Name}' is a {tool?.GetType().Name ?? "null"}.");
            }

            schemas.Add(new JsonObject
            {
                ["type"] = "function",
                ["function"] = new JsonObject
                {
                    ["name"] = function.Name,
                    ["description"] = function.Description,
                    ["parameters"] = JsonNode.Parse(function.JsonSchema.GetRawText()),
                },
            });
        }

        return schemas;
    }
}
