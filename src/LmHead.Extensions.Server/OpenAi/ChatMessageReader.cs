using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;

namespace LmHead.Extensions.Server.OpenAi;

/// <summary>Reads OpenAI's <c>messages</c> array into Microsoft.Extensions.AI <see cref="ChatMessage"/>s (text only).</summary>
internal static class ChatMessageReader
{
    /// <summary>Reads the messages: roles <c>system</c>, <c>developer</c> (as system), <c>user</c>, <c>assistant</c>; content a string or a list of text parts.</summary>
    /// <exception cref="OpenAiException">The array is missing or a message is not one of those; the error names the message.</exception>
    internal static List<ChatMessage> Read(JsonNode? messages)
    {
        if (messages is not JsonArray { Count: > 0 } array)
        {
            throw OpenAiException.BadRequest("The parameter 'messages' must be a non-empty list of messages.", "messages");
        }

        var result = new List<ChatMessage>(array.Count);
        for (int i = 0; i < array.Count; i++)
        {
            if (array[i] is not JsonObject message)
            {
                throw OpenAiException.BadRequest($"messages[{i}] must be an object with 'role' and 'content'.", $"messages[{i}]");
            }

            result.Add(new ChatMessage(RoleOf(message["role"], i), TextOf(message["content"], i)));
        }

        return result;
    }

    private static ChatRole RoleOf(JsonNode? role, int index) => (role as JsonValue)?.TryGetValue(out string? name) == true ? name switch
    {
        "system" or "developer" => ChatRole.System,
        "user" => ChatRole.User,
        "assistant" => ChatRole.Assistant,
        _ => throw OpenAiException.BadRequest(
            $"messages[{index}].role is '{name}'; this server supports system, developer, user and assistant messages (no tool calling).", $"messages[{index}].role"),
    } : throw OpenAiException.BadRequest($"messages[{index}].role must be a string.", $"messages[{index}].role");

    private static string TextOf(JsonNode? content, int index)
    {
        switch (content)
        {
            case null:
                return "";
            case JsonValue value when value.TryGetValue(out string? whole):
                return whole;
            case JsonArray parts:
                var text = new StringBuilder();
                for (int j = 0; j < parts.Count; j++)
                {
                    if (parts[j] is not JsonObject part || part["type"] is not JsonValue type || !type.TryGetValue(out string? kind) || kind != "text"
                        || part["text"] is not JsonValue partText
                        || !partText.TryGetValue(out string? piece))
                    {
                        throw OpenAiException.BadRequest(
                            $"messages[{index}].content[{j}] must be a text part ({{\"type\":\"text\",\"text\":\"...\"}}); this server reads text only.", $"messages[{index}].content");
                    }

                    text.Append(piece);
                }

                return text.ToString();
            default:
                throw OpenAiException.BadRequest($"messages[{index}].content must be a string or a list of text parts.", $"messages[{index}].content");
        }
    }
}
