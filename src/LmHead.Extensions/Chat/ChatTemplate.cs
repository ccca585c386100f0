using System.Text.Json.Nodes;
using LmHead.Extensions.Chat.Jinja;

namespace LmHead.Extensions.Chat;

/// <summary>
/// A Hugging Face chat template (the <c>chat_template</c> of <c>tokenizer_config.json</c>), parsed once and rendered
/// by this library's own interpreter of the Jinja subset the published templates use (no Python, no package).
/// </summary>
/// <remarks>
/// <para>Rendering follows Hugging Face's settings: <c>trim_blocks</c> and <c>lstrip_blocks</c> on, the globals
/// <c>raise_exception</c> and <c>strftime_now</c>, <c>tojson</c> as Python's <c>json.dumps</c> with
/// <c>ensure_ascii=False</c>, and the variables <c>messages</c>, <c>tools</c>, <c>add_generation_prompt</c>,
/// <c>bos_token</c> and <c>eos_token</c>.</para>
/// <para>Supported: text, <c>{{ }}</c>, comments, <c>{%- -%}</c> and <c>{%+ +%}</c>; <c>if/elif/else</c>,
/// <c>for</c> (with <c>if</c> filter, <c>else</c>, <c>loop.index0/index/first/last/length/revindex</c>,
/// tuple targets), <c>set</c> (names, <c>namespace()</c> attributes, blocks), <c>macro</c>, <c>break</c>,
/// <c>continue</c>, <c>generation</c>; literals, lists, dicts, attribute and item access, slices, <c>a if b else c</c>,
/// <c>and/or/not</c>, comparisons, <c>in</c>, <c>+ - * / // % **</c>, <c>~</c>; filters trim, length/count, tojson,
/// default, upper, lower, title, capitalize, items, first, last, list, reverse, join, string, int, float, abs, replace,
/// select/reject, selectattr/rejectattr, map, safe; tests defined, undefined, none, string, number, integer, float,
/// boolean, true, false, mapping, iterable, sequence, callable, equalto/eq, ne, in, odd, even, divisibleby, lower, upper;
/// the string methods strip/lstrip/rstrip, split, startswith, endswith, upper, lower, title, capitalize, replace, join,
/// find, count and the dict methods items, keys, values, get. Anything else is a <see cref="ChatTemplateException"/>
/// naming the construct and its line and column.</para>
/// </remarks>
public sealed class ChatTemplate
{
    private readonly IReadOnlyList<JinjaNode> _nodes;

    private ChatTemplate(string source, IReadOnlyList<JinjaNode> nodes)
    {
        Source = source;
        _nodes = nodes;
    }

    /// <summary>The template text.</summary>
    public string Source { get; }

    /// <summary>Parses a template.</summary>
    /// <param name="source">The Jinja text.</param>
    /// <returns>The parsed template; immutable and safe to render from several threads.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="source"/> is null.</exception>
    /// <exception cref="ChatTemplateException">A syntax error or an unsupported construct (named, with line and column).</exception>
    public static ChatTemplate Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new ChatTemplate(source, JinjaParser.Parse(source));
    }

    /// <summary>Renders a conversation.</summary>
    /// <param name="messages">The messages: JSON objects with <c>role</c> and <c>content</c> (and, for tool use,
    /// <c>tool_calls</c> or <c>tool_call_id</c>), as Hugging Face's <c>apply_chat_template</c> takes them.</param>
    /// <param name="options">The other variables, or null for the defaults (generation prompt on, no tools).</param>
    /// <returns>The prompt text, special tokens written out (encode it with special tokens allowed).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="messages"/> is null.</exception>
    /// <exception cref="ChatTemplateException">The template raised an error or used an unsupported construct.</exception>
    public string Render(JsonArray messages, ChatTemplateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        options ??= new ChatTemplateOptions();
        var globals = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, value) in options.Variables ?? new Dictionary<string, JsonNode?>())
        {
            globals[name] = JinjaValues.FromJson(value);
        }

        globals["messages"] = JinjaValues.FromJson(messages);
        globals["tools"] = options.Tools is null ? null : JinjaValues.FromJson(options.Tools);
        globals["add_generation_prompt"] = options.AddGenerationPrompt;
        globals["bos_token"] = options.BosToken ?? string.Empty;
        globals["eos_token"] = options.EosToken ?? string.Empty;
        var clock = options.Clock ?? (() => DateTimeOffset.Now);
        return JinjaRenderer.Render(_nodes, globals, clock);
    }
}
