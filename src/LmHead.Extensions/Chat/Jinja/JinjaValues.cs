using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LmHead.Extensions.Chat.Jinja;

/// <summary>Jinja's undefined value: falsy, renders as nothing, an error in arithmetic.</summary>
internal sealed class JinjaUndefined(string name)
{
    public string Name { get; } = name;
}

/// <summary>The object <c>namespace(...)</c> makes: attributes a <c>set</c> inside a loop can change.</summary>
internal sealed class JinjaNamespace
{
    public Dictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}

/// <summary>A function a template can call (globals, macros): positional and named arguments in, a value out.</summary>
internal delegate object? JinjaFunction(IReadOnlyList<object?> arguments, IReadOnlyDictionary<string, object?> named);

/// <summary>
/// Values of the interpreter and Python's rules for them: null is <c>None</c>, <see cref="long"/> and
/// <see cref="double"/> numbers, strings, <see cref="List{T}"/> lists, <see cref="OrderedDictionary{TKey, TValue}"/>
/// dicts (insertion order kept, as Python's), and <see cref="JinjaUndefined"/>.
/// </summary>
internal static class JinjaValues
{
    public static bool IsUndefined(object? value) => value is JinjaUndefined;

    public static bool Truthy(object? value) => value switch
    {
        null or JinjaUndefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> list => list.Count > 0,
        OrderedDictionary<string, object?> dict => dict.Count > 0,
        _ => true,
    };

    /// <summary>Python's <c>str()</c> of a value (Jinja's rendering of <c>{{ value }}</c>).</summary>
    public static string ToText(object? value) => value switch
    {
        string s => s,
        JinjaUndefined => string.Empty,
        _ => Representation(value, topLevel: true),
    };

    /// <summary>Python's <c>repr()</c>, except that a top-level string is not quoted (<c>str()</c>).</summary>
    private static string Representation(object? value, bool topLevel)
    {
        switch (value)
        {
            case null: return "None";
            case JinjaUndefined: return string.Empty;
            case bool b: return b ? "True" : "False";
            case long l: return l.ToString(CultureInfo.InvariantCulture);
            case double d: return JinjaJson.FormatFloat(d);
            case string s: return topLevel ? s : "'" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal) + "'";
            case List<object?> list: return "[" + string.Join(", ", list.Select(v => Representation(v, false))) + "]";
            case OrderedDictionary<string, object?> dict:
                return "{" + string.Join(", ", dict.Select(p => Representation(p.Key, false) + ": " + Representation(p.Value, false))) + "}";
            case JinjaNamespace: return "<Namespace>";
            default: return value.ToString() ?? string.Empty;
        }
    }

    /// <summary>The type name errors use.</summary>
    public static string TypeName(object? value) => value switch
    {
        null => "none",
        JinjaUndefined u => $"undefined ('{u.Name}')",
        bool => "boolean",
        long => "integer",
        double => "float",
        string => "string",
        List<object?> => "list",
        OrderedDictionary<string, object?> => "dict",
        JinjaNamespace => "namespace",
        JinjaFunction => "function",
        _ => value.GetType().Name,
    };

    public static new bool Equals(object? left, object? right)
    {
        if (left is JinjaUndefined || right is JinjaUndefined)
        {
            return left is JinjaUndefined && right is JinjaUndefined;
        }

        if (IsNumber(left) && IsNumber(right))
        {
            return ToDouble(left) == ToDouble(right);
        }

        return (left, right) switch
        {
            (null, null) => true,
            (string a, string b) => string.Equals(a, b, StringComparison.Ordinal),
            (List<object?> a, List<object?> b) => a.Count == b.Count && a.Zip(b).All(p => Equals(p.First, p.Second)),
            (OrderedDictionary<string, object?> a, OrderedDictionary<string, object?> b) =>
                a.Count == b.Count && a.All(p => b.TryGetValue(p.Key, out var v) && Equals(p.Value, v)),
            _ => ReferenceEquals(left, right),
        };
    }

    /// <summary>Numbers and booleans count as numbers (Python's <c>True == 1</c>).</summary>
    public static bool IsNumber(object? value) => value is long or double or bool;

    public static double ToDouble(object? value) => value switch
    {
        long l => l,
        double d => d,
        bool b => b ? 1 : 0,
        _ => double.NaN,
    };

    /// <summary>Converts JSON (messages, tools, extra variables) to interpreter values.</summary>
    public static object? FromJson(JsonNode? node)
    {
        switch (node)
        {
            case null: return null;
            case JsonObject obj:
                var dict = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (key, value) in obj)
                {
                    dict[key] = FromJson(value);
                }

                return dict;
            case JsonArray array: return array.Select(FromJson).ToList();
            default:
                var scalar = node.AsValue();
                string raw = scalar.ToJsonString();
                return scalar.GetValueKind() switch
                {
                    JsonValueKind.String => scalar.GetValue<string>(),
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    JsonValueKind.Number when scalar.TryGetValue(out long l) && !raw.Contains('.', StringComparison.Ordinal) && !raw.Contains('e', StringComparison.OrdinalIgnoreCase) => l,
                    JsonValueKind.Number => double.Parse(raw, CultureInfo.InvariantCulture),
                    _ => null,
                };
        }
    }

    /// <summary>Iterates a value as Jinja's <c>for</c> does: list items, dict keys, string characters.</summary>
    public static IEnumerable<object?>? Iterate(object? value) => value switch
    {
        List<object?> list => list,
        OrderedDictionary<string, object?> dict => dict.Keys.Cast<object?>(),
        string s => StringCharacters(s),
        JinjaUndefined => [],
        _ => null,
    };

    private static List<object?> StringCharacters(string s)
    {
        // Python iterates code points; a surrogate pair is one.
        var result = new List<object?>();
        for (int i = 0; i < s.Length; i += char.IsSurrogatePair(s, i) ? 2 : 1)
        {
            result.Add(s.Substring(i, char.IsSurrogatePair(s, i) ? 2 : 1));
        }

        return result;
    }

    /// <summary>Python's <c>str.strip()</c> with no argument: removes Unicode white space.</summary>
    public static string Strip(string text, string? characters, bool start = true, bool end = true)
    {
        int from = 0, to = text.Length;
        bool Strippable(char c) => characters is null ? char.IsWhiteSpace(c) : characters.Contains(c, StringComparison.Ordinal);
        while (start && from < to && Strippable(text[from]))
        {
            from++;
        }

        while (end && to > from && Strippable(text[to - 1]))
        {
            to--;
        }

        return text[from..to];
    }

    /// <summary>Python's <c>str.title()</c>.</summary>
    public static string Title(string text)
    {
        var result = new StringBuilder(text.Length);
        bool previousCased = false;
        foreach (char c in text)
        {
            result.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousCased = char.IsLetter(c);
        }

        return result.ToString();
    }
}
