using System.Text.Json.Nodes;

namespace LmHead.Extensions.Chat;

/// <summary>
/// The variables a chat template is rendered with besides the messages, as Hugging Face's
/// <c>apply_chat_template</c> passes them.
/// </summary>
public sealed class ChatTemplateOptions
{
    /// <summary>Whether to end with the header that opens the assistant's turn (<c>add_generation_prompt</c>). Default true.</summary>
    public bool AddGenerationPrompt { get; init; } = true;

    /// <summary>The tool (function) schemas, JSON objects as OpenAI's <c>tools</c> array; null renders <c>tools</c> as none.</summary>
    public JsonArray? Tools { get; init; }

    /// <summary>The <c>bos_token</c> text, or null for an empty string.</summary>
    public string? BosToken { get; init; }

    /// <summary>The <c>eos_token</c> text, or null for an empty string.</summary>
    public string? EosToken { get; init; }

    /// <summary>Extra template variables (Llama 3's <c>date_string</c>, <c>tools_in_user_message</c>, ...).</summary>
    public IReadOnlyDictionary<string, JsonNode?>? Variables { get; init; }

    /// <summary>The clock <c>strftime_now</c> reads; null for the local time now.</summary>
    public Func<DateTimeOffset>? Clock { get; init; }
}
