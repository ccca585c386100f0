using System.Globalization;

namespace LmHead.Extensions.Chat.Jinja;

/// <summary>The filters (<c>x | trim</c>) and tests (<c>x is defined</c>) of the supported Jinja subset.</summary>
internal static class JinjaFilters
{
    /// <summary>The filters <see cref="Apply"/> knows, checked when parsing so an unsupported one fails at once.</summary>
    public static readonly HashSet<string> FilterNames =
    [
        "default", "d", "safe", "trim", "upper", "lower", "title", "capitalize", "string", "length", "count", "tojson", "items",
        "first", "last", "list", "reverse", "join", "int", "float", "abs", "replace", "select", "reject", "selectattr", "rejectattr", "map",
    ];

    /// <summary>The tests <see cref="Test"/> knows.</summary>
    public static readonly HashSet<string> TestNames =
    [
        "defined", "undefined", "none", "string", "number", "integer", "float", "boolean", "true", "false", "mapping", "iterable",
        "sequence", "callable", "equalto", "eq", "==", "sameas", "ne", "!=", "in", "odd", "even", "divisibleby", "lower", "upper",
    ];

    public static object? Apply(JinjaRenderer renderer, FilterExpression at, object? value, List<object?> arguments, Dictionary<string, object?> named)
    {
        object? Argument(int i, string key, object? fallback = null) =>
            i < arguments.Count ? arguments[i] : named.TryGetValue(key, out var v) ? v : fallback;

        switch (at.Name)
        {
            case "default" or "d":
                bool boolean = JinjaValues.Truthy(Argument(1, "boolean", false));
                return value is JinjaUndefined || (boolean && !JinjaValues.Truthy(value)) ? Argument(0, "default_value", string.Empty) : value;
            case "safe":
                return value;
        }

        if (value is JinjaUndefined undefined && at.Name is not ("length" or "count" or "string" or "list" or "tojson"))
        {
            throw new ChatTemplateException($"'{undefined.Name}' is undefined (in filter '{at.Name}')", at.Line, at.Column);
        }

        switch (at.Name)
        {
            case "trim":
                return JinjaValues.Strip(Text(at, value), Argument(0, "chars") as string);
            case "upper": return Text(at, value).ToUpperInvariant();
            case "lower": return Text(at, value).ToLowerInvariant();
            case "title": return JinjaValues.Title(Text(at, value));
            case "capitalize":
                string t = Text(at, value);
                return t.Length == 0 ? t : char.ToUpperInvariant(t[0]) + t[1..].ToLowerInvariant();
            case "string": return JinjaValues.ToText(value);
            case "length" or "count":
                return value switch
                {
                    string s => (long)s.EnumerateRunes().Count(),
                    List<object?> list => (long)list.Count,
                    OrderedDictionary<string, object?> dict => (long)dict.Count,
                    JinjaUndefined => 0L,
                    _ => throw new ChatTemplateException($"filter 'length' does not apply to {JinjaValues.TypeName(value)}", at.Line, at.Column),
                };
            case "tojson":
                int? indent = Argument(0, "indent") is long n ? (int)n : null;
                bool sortKeys = JinjaValues.Truthy(named.GetValueOrDefault("sort_keys"));
                string? itemSeparator = null, keySeparator = null;
                if (named.GetValueOrDefault("separators") is List<object?> { Count: 2 } separators)
                {
                    itemSeparator = separators[0] as string;
                    keySeparator = separators[1] as string;
                }

                return JinjaJson.Serialize(value, indent, itemSeparator, keySeparator, sortKeys);
            case "items":
                return value is OrderedDictionary<string, object?> dict2
                    ? dict2.Select(p => (object?)new List<object?> { p.Key, p.Value }).ToList()
                    : throw new ChatTemplateException($"filter 'items' needs a dict, not {JinjaValues.TypeName(value)}", at.Line, at.Column);
            case "first": return Items(at, value).FirstOrDefault(new JinjaUndefined("first"));
            case "last": return Items(at, value).LastOrDefault(new JinjaUndefined("last"));
            case "list": return Items(at, value);
            case "reverse": return value is string r ? new string([.. r.Reverse()]) : Enumerable.Reverse(Items(at, value)).ToList();
            case "join":
                var pieces = Items(at, value);
                if (named.GetValueOrDefault("attribute") is string attribute)
                {
                    pieces = [.. pieces.Select(p => JinjaRenderer.GetItem(p, attribute, at))];
                }

                return string.Join(Argument(0, "d", string.Empty) as string ?? string.Empty, pieces.Select(JinjaValues.ToText));
            case "int":
                return value switch
                {
                    long l => l,
                    double d => (long)Math.Truncate(d),
                    bool b => b ? 1L : 0L,
                    string s when long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long parsed) => parsed,
                    _ => Argument(0, "default", 0L),
                };
            case "float":
                return value switch
                {
                    long or double or bool => JinjaValues.ToDouble(value),
                    string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed) => parsed,
                    _ => Argument(0, "default", 0.0),
                };
            case "abs":
                return value is long al ? Math.Abs(al) : value is double ad ? Math.Abs(ad)
                    : throw new ChatTemplateException($"filter 'abs' needs a number, not {JinjaValues.TypeName(value)}", at.Line, at.Column);
            case "replace":
                return Text(at, value).Replace(Argument(0, "old") as string ?? string.Empty, Argument(1, "new") as string ?? string.Empty, StringComparison.Ordinal);
            case "select" or "reject":
                bool keep = at.Name == "select";
                string testName = Argument(0, "test") as string ?? "truthy";
                return Items(at, value).Where(item => TestOrTruthy(renderer, testName, item, [.. arguments.Skip(1)], at) == keep).ToList();
            case "selectattr" or "rejectattr":
                bool keepAttr = at.Name == "selectattr";
                string name = Argument(0, "attribute") as string ?? string.Empty;
                string attrTest = Argument(1, "test") as string ?? "truthy";
                return Items(at, value)
                    .Where(item => TestOrTruthy(renderer, attrTest, Attribute(item, name), [.. arguments.Skip(2)], at) == keepAttr).ToList();
            case "map":
                if (named.GetValueOrDefault("attribute") is string mapped)
                {
                    return Items(at, value).Select(item => Attribute(item, mapped)).ToList();
                }

                string filterName = Argument(0, "filter") as string
                    ?? throw new ChatTemplateException("filter 'map' needs attribute= or a filter name", at.Line, at.Column);
                return Items(at, value)
                    .Select(item => Apply(renderer, at with { Name = filterName }, item, [.. arguments.Skip(1)], []))
                    .ToList();
            default:
                throw new ChatTemplateException($"unsupported filter '{at.Name}'", at.Line, at.Column);
        }
    }

    public static bool Test(JinjaRenderer renderer, string name, object? value, List<object?> arguments, JinjaExpression at)
    {
        _ = renderer;
        object? Argument() => arguments.Count > 0 ? arguments[0] : null;
        return name switch
        {
            "defined" => value is not JinjaUndefined,
            "undefined" => value is JinjaUndefined,
            "none" => value is null,
            "string" => value is string,
            "number" => value is long or double,
            "integer" => value is long,
            "float" => value is double,
            "boolean" => value is bool,
            "true" => value is true,
            "false" => value is false,
            "mapping" => value is OrderedDictionary<string, object?>,
            "iterable" => value is string or List<object?> or OrderedDictionary<string, object?>,
            "sequence" => value is string or List<object?> or OrderedDictionary<string, object?>,
            "callable" => value is JinjaFunction,
            "equalto" or "eq" or "==" or "sameas" => JinjaValues.Equals(value, Argument()),
            "ne" or "!=" => !JinjaValues.Equals(value, Argument()),
            "in" => Argument() is { } container && JinjaValues.Iterate(container)?.Any(x => JinjaValues.Equals(x, value)) == true,
            "odd" => value is long o && o % 2 != 0,
            "even" => value is long e && e % 2 == 0,
            "divisibleby" => value is long v && Argument() is long d && d != 0 && v % d == 0,
            "lower" => value is string l && string.Equals(l, l.ToLowerInvariant(), StringComparison.Ordinal),
            "upper" => value is string u && string.Equals(u, u.ToUpperInvariant(), StringComparison.Ordinal),
            _ => throw new ChatTemplateException($"unsupported test '{name}'", at.Line, at.Column),
        };
    }

    private static bool TestOrTruthy(JinjaRenderer renderer, string test, object? value, List<object?> arguments, JinjaExpression at) =>
        test == "truthy" ? JinjaValues.Truthy(value) : Test(renderer, test, value, arguments, at);

    private static object? Attribute(object? item, string name) =>
        item is OrderedDictionary<string, object?> dict && dict.TryGetValue(name, out var value) ? value : new JinjaUndefined(name);

    private static string Text(FilterExpression at, object? value) =>
        value as string ?? (value is null or bool or long or double ? JinjaValues.ToText(value)
            : throw new ChatTemplateException($"filter '{at.Name}' needs a string, not {JinjaValues.TypeName(value)}", at.Line, at.Column));

    private static List<object?> Items(FilterExpression at, object? value) =>
        JinjaValues.Iterate(value)?.ToList()
        ?? throw new ChatTemplateException($"filter '{at.Name}' needs a list, not {JinjaValues.TypeName(value)}", at.Line, at.Column);
}
