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
/// Roles render as <c>System</c>, <c>User</c>, <c>Assistant</c> and <c>Tool</c>; <see cref="ChatOptions.Instructions"/>
/// render as a first <c>System</c> turn; tool calls and tool results render as JSON in the shape of <see cref="ToolCallFormat"/>. Generation stops before <see cref="TurnStopSequence"/> (the model starting the user's
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
    public static string Render(IEnumerable<ChatMessage> messages, string? instructions = null) => Format(Turns(messages, instructions));

    /// <summary>
    /// Renders a conversation in at most <paramref name="maxTokens"/> tokens where it can: the oldest turns that are not
    /// system turns go first, one at a time; the system turns (and <paramref name="instructions"/>) and the last message
    /// always stay. When those alone are longer, they are returned as they are (the generator then keeps the prompt's
    /// last tokens).
    /// </summary>
    internal static string RenderWithin(IEnumerable<ChatMessage> messages, string? instructions, Func<string, int> countTokens, int maxTokens)
    {
        var turns = Turns(messages, instructions);

        // The droppable turns, oldest first: every turn but the system turns and the last one.
        var droppable = Enumerable.Range(0, Math.Max(0, turns.Count - 1)).Where(i => turns[i].Role != "System").ToArray();
        string Render(int drops)
        {
            var dropped = new HashSet<int>(droppable.Take(drops));
            return Format([.. turns.Where((_, i) => !dropped.Contains(i))]);
        }

        return PromptBudget.FewestDrops(Render, droppable.Length, countTokens, maxTokens);
    }

    private static string Format(List<(string Role, string Text)> turns)
    {
        var prompt = new StringBuilder();
        foreach (var (role, text) in turns)
        {
            AppendTurn(prompt, role, text);
        }

        prompt.Append("Assistant:");
        return prompt.ToString();
    }

    private static List<(string Role, string Text)> Turns(IEnumerable<ChatMessage> messages, string? instructions)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var turns = new List<(string Role, string Text)>();
        if (!string.IsNullOrEmpty(instructions))
        {
            turns.Add(("System", instructions));
        }

        int index = 0;
        var callNames = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var message in messages)
        {
            if (message is null)
            {
                throw new ArgumentException($"messages[{index}] is null; every message of the conversation must be a ChatMessage.", nameof(messages));
            }

            // Contents is never null (its getter creates a list), but an item of it may be. Tool calls and their results
            // are rendered in the reply shape of ToolCallFormat, so the model sees its own format.
            var text = new StringBuilder();
            int contentIndex = 0;
            foreach (var content in message.Contents)
            {
                switch (content)
                {
                    case null:
                        throw new ArgumentException(
                            $"messages[{index}].Contents[{contentIndex}] is null; a message's contents must be TextContent, FunctionCallContent or FunctionResultContent items.", nameof(messages));
                    case TextContent t:
                        text.Append(t.Text);
                        break;
                    case FunctionCallContent call:
                        callNames[call.CallId] = call.Name;
                        Separate(text).Append(ToolCallFormat.RenderCall(call));
                        break;
                    case FunctionResultContent result:
                        Separate(text).Append(ToolCallFormat.RenderResult(callNames.GetValueOrDefault(result.CallId), result));
                        break;
                    default:
                        throw new NotSupportedException(
                            $"The LmHead chat client renders text only (besides tool calls and their results); messages[{index}] ({message.Role}) holds {content.GetType().Name} at Contents[{contentIndex}].");
                }

                contentIndex++;
            }

            turns.Add((RoleName(message.Role), text.ToString()));
            index++;
        }

        return turns;
    }

    private static StringBuilder Separate(StringBuilder text) => text.Length > 0 ? text.Append('\n') : text;

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

        if (role == ChatRole.Tool)
        {
            return "Tool";
        }

        throw new NotSupportedException($"The LmHead chat client does not support the '{role}' role (supported: system, user, assistant, tool).");
    }
}
