using System.Text;
using Microsoft.Extensions.AI;

namespace LmHead.Extensions.SemanticKernel.Services;

/// <summary>
/// The plain-text prompt format <see cref="LmHeadChatClient"/> renders a conversation in, for a base (not
/// instruction-tuned) model: one line per turn, <c>"{Role}: {text}"</c>, then <c>"Assistant:"</c> for the model to
/// continue.
/// </summary>
/// <remarks>
/// <code>
/// System: You are terse.
/// User: Hello
/// Assistant: Hi.
/// User: How are you?
/// Assistant:
/// </code>
/// Roles render as <c>System</c>, <c>User</c> and <c>Assistant</c>; <see cref="ChatOptions.Instructions"/> render as
/// a first <c>System</c> turn. Generation stops before <see cref="TurnStopSequence"/> (the model starting the user's
/// next turn), and the reply's leading white space (after <c>"Assistant:"</c>) is removed.
/// </remarks>
public static class ChatPromptFormat
{
    /// <summary>The stop sequence added to every chat request: a new line starting the user's turn.</summary>
    public const string TurnStopSequence = "\nUser:";

    /// <summary>Renders a conversation as a prompt.</summary>
    /// <param name="messages">The turns, oldest first.</param>
    /// <param name="instructions">Extra system instructions rendered first, or <see langword="null"/>.</param>
    /// <returns>The prompt, ending with <c>"Assistant:"</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="messages"/> is null.</exception>
    /// <exception cref="ArgumentException">A message, or an item of a message's contents, is null; the message names its index.</exception>
    /// <exception cref="NotSupportedException">A message holds content other than text (images, function calls), or has the tool role.</exception>
    public static string Render(IEnumerable<ChatMessage> messages, string? instructions = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var prompt = new StringBuilder();
        if (!string.IsNullOrEmpty(instructions))
        {
            AppendTurn(prompt, "System", instructions);
        }

        int index = 0;
        foreach (var message in messages)
        {
            if (message is null)
            {
                throw new ArgumentException($"messages[{index}] is null; every message of the conversation must be a ChatMessage.", nameof(messages));
            }

            // Contents is never null (its getter creates a list), but an item of it may be.
            int contentIndex = 0;
            foreach (var content in message.Contents)
            {
                if (content is null)
                {
                    throw new ArgumentException(
                        $"messages[{index}].Contents[{contentIndex}] is null; a message's contents must be TextContent items.", nameof(messages));
                }

                if (content is not TextContent)
                {
                    throw new NotSupportedException(
                        $"The LmHead chat client renders text only; messages[{index}] ({message.Role}) holds {content.GetType().Name} at Contents[{contentIndex}].");
                }

                contentIndex++;
            }

            AppendTurn(prompt, RoleName(message.Role), message.Text);
            index++;
        }

        prompt.Append("Assistant:");
        return prompt.ToString();
    }

    private static void AppendTurn(StringBuilder prompt, string role, string text) =>
        prompt.Append(role).Append(": ").Append(text.Trim()).Append('\n');

    private static string RoleName(ChatRole role)
    {
        if (role == ChatRole.System)
        {
            return "System";
        }

        if (role == ChatRole.User)
        {
            return "User";
        }

        if (role == ChatRole.Assistant)
        {
            return "Assistant";
        }

        throw new NotSupportedException($"The LmHead chat client does not support the '{role}' role (no tool calling).");
    }
}
