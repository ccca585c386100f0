namespace LmHead.Extensions.Chat.Jinja;

/// <summary>The Python methods templates call on strings and dicts (<c>content.strip()</c>, <c>message.get('x')</c>).</summary>
internal static class JinjaMethods
{
    public static bool TryCall(object? target, string name, List<object?> arguments, Dictionary<string, object?> named, JinjaExpression at, out object? result)
    {
        object? Argument(int i, string key, object? fallback = null) =>
            i < arguments.Count ? arguments[i] : named.TryGetValue(key, out var value) ? value : fallback;
        string? Chars(int i) => Argument(i, "chars") is string s ? s : null;

        switch (target)
        {
            case string text:
                result = name switch
                {
                    "strip" => JinjaValues.Strip(text, Chars(0)),
                    "lstrip" => JinjaValues.Strip(text, Chars(0), end: false),
                    "rstrip" => JinjaValues.Strip(text, Chars(0), start: false),
                    "upper" => text.ToUpperInvariant(),
                    "lower" => text.ToLowerInvariant(),
                    "title" => JinjaValues.Title(text),
                    "capitalize" => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..].ToLowerInvariant(),
                    "startswith" => Affix(Argument(0, "prefix"), p => text.StartsWith(p, StringComparison.Ordinal)),
                    "endswith" => Affix(Argument(0, "suffix"), s => text.EndsWith(s, StringComparison.Ordinal)),
                    "replace" => Replace(text, Argument(0, "old") as string ?? string.Empty, Argument(1, "new") as string ?? string.Empty, Argument(2, "count") as long? ?? -1),
                    "split" => Split(text, Argument(0, "sep") as string, Argument(1, "maxsplit") as long? ?? -1),
                    "join" => string.Join(text, (JinjaValues.Iterate(Argument(0, "iterable")) ?? []).Select(JinjaValues.ToText)),
                    "find" => (long)text.IndexOf(Argument(0, "sub") as string ?? string.Empty, StringComparison.Ordinal),
                    "count" => (long)CountOf(text, Argument(0, "sub") as string ?? string.Empty),
                    _ => Unsupported(at, "string", name),
                };
                return true;
            case OrderedDictionary<string, object?> dict:
                result = name switch
                {
                    "items" => dict.Select(p => (object?)new List<object?> { p.Key, p.Value }).ToList(),
                    "keys" => dict.Keys.Select(k => (object?)k).ToList(),
                    "values" => dict.Values.ToList(),
                    "get" => Argument(0, "key") is string key && dict.TryGetValue(key, out var value) ? value : Argument(1, "default"),
                    _ => dict.ContainsKey(name) ? UnsupportedCall(at, name) : Unsupported(at, "dict", name),
                };
                return true;
            default:
                result = null;
                return false;
        }
    }

    private static bool Affix(object? affixes, Func<string, bool> test) => affixes switch
    {
        string one => test(one),
        List<object?> many => many.OfType<string>().Any(test),
        _ => false,
    };

    private static string Replace(string text, string old, string replacement, long count)
    {
        if (count < 0 || old.Length == 0)
        {
            return old.Length == 0 ? text : text.Replace(old, replacement, StringComparison.Ordinal);
        }

        var result = new System.Text.StringBuilder();
        int position = 0;
        for (long done = 0; done < count; done++)
        {
            int found = text.IndexOf(old, position, StringComparison.Ordinal);
            if (found < 0)
            {
                break;
            }

            result.Append(text, position, found - position).Append(replacement);
            position = found + old.Length;
        }

        return result.Append(text, position, text.Length - position).ToString();
    }

    private static List<object?> Split(string text, string? separator, long maxSplit)
    {
        if (separator is null)
        {
            // Python's split(): runs of white space, no empty strings.
            var words = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (maxSplit < 0 || words.Length <= maxSplit + 1)
            {
                return [.. words];
            }

            var head = words.Take((int)maxSplit).ToList<object?>();
            string rest = JinjaValues.Strip(text, null, end: false);
            foreach (var word in words.Take((int)maxSplit))
            {
                rest = JinjaValues.Strip(rest[(rest.IndexOf(word, StringComparison.Ordinal) + word.Length)..], null, end: false);
            }

            head.Add(rest);
            return head;
        }

        return [.. maxSplit < 0 ? text.Split(separator) : text.Split(separator, (int)maxSplit + 1)];
    }

    private static int CountOf(string text, string part)
    {
        if (part.Length == 0)
        {
            return text.Length + 1;
        }

        int count = 0;
        for (int i = text.IndexOf(part, StringComparison.Ordinal); i >= 0; i = text.IndexOf(part, i + part.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    private static object? Unsupported(JinjaExpression at, string type, string name) =>
        throw new ChatTemplateException($"unsupported method '{name}()' on a {type}", at.Line, at.Column);

    private static object? UnsupportedCall(JinjaExpression at, string name) =>
        throw new ChatTemplateException($"'{name}' is a dict entry, not a method, and cannot be called", at.Line, at.Column);
}
