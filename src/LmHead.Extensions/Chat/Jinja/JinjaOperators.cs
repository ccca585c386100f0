namespace LmHead.Extensions.Chat.Jinja;

/// <summary>Binary operators with Python's rules (Jinja evaluates them in Python).</summary>
internal static class JinjaOperators
{
    public static object? Binary(BinaryExpression at, object? left, object? right)
    {
        switch (at.Operator)
        {
            case "==": return JinjaValues.Equals(left, right);
            case "!=": return !JinjaValues.Equals(left, right);
            case "<" or ">" or "<=" or ">=":
                int order = Compare(at, left, right);
                return at.Operator switch { "<" => order < 0, ">" => order > 0, "<=" => order <= 0, _ => order >= 0 };
            case "in": return Contains(at, right, left);
            case "not in": return !Contains(at, right, left);
            case "~": return JinjaValues.ToText(left) + JinjaValues.ToText(right);
        }

        RequireDefined(at, left);
        RequireDefined(at, right);
        switch (at.Operator, left, right)
        {
            case ("+", string a, string b): return a + b;
            case ("+", List<object?> a, List<object?> b): return a.Concat(b).ToList();
            case ("*", string a, long b): return string.Concat(Enumerable.Repeat(a, (int)Math.Max(0, b)));
            case ("*", List<object?> a, long b): return Enumerable.Repeat(a, (int)Math.Max(0, b)).SelectMany(x => x).ToList();
        }

        if (!JinjaValues.IsNumber(left) || !JinjaValues.IsNumber(right))
        {
            throw new ChatTemplateException(
                $"'{at.Operator}' does not apply to {JinjaValues.TypeName(left)} and {JinjaValues.TypeName(right)}", at.Line, at.Column);
        }

        bool integers = left is long or bool && right is long or bool;
        long li = (long)JinjaValues.ToDouble(left), ri = (long)JinjaValues.ToDouble(right);
        double ld = JinjaValues.ToDouble(left), rd = JinjaValues.ToDouble(right);
        if (at.Operator is "/" or "//" or "%" && rd == 0)
        {
            throw new ChatTemplateException("division by zero", at.Line, at.Column);
        }

        return at.Operator switch
        {
            "+" => integers ? (object)(li + ri) : ld + rd,
            "-" => integers ? (object)(li - ri) : ld - rd,
            "*" => integers ? (object)(li * ri) : ld * rd,
            "/" => (object)(ld / rd),
            "//" => integers ? (object)(long)Math.Floor((double)li / ri) : Math.Floor(ld / rd),
            "%" => integers ? (object)(((li % ri) + ri) % ri) : ld - (rd * Math.Floor(ld / rd)),
            "**" => integers && ri >= 0 ? (object)(long)Math.Pow(li, ri) : Math.Pow(ld, rd),
            _ => throw new ChatTemplateException($"unsupported operator '{at.Operator}'", at.Line, at.Column),
        };
    }

    private static void RequireDefined(BinaryExpression at, object? value)
    {
        if (value is JinjaUndefined undefined)
        {
            throw new ChatTemplateException($"'{undefined.Name}' is undefined (in '{at.Operator}')", at.Line, at.Column);
        }
    }

    private static int Compare(BinaryExpression at, object? left, object? right)
    {
        if (JinjaValues.IsNumber(left) && JinjaValues.IsNumber(right))
        {
            return JinjaValues.ToDouble(left).CompareTo(JinjaValues.ToDouble(right));
        }

        if (left is string a && right is string b)
        {
            return string.CompareOrdinal(a, b);
        }

        throw new ChatTemplateException($"'{at.Operator}' cannot compare {JinjaValues.TypeName(left)} with {JinjaValues.TypeName(right)}", at.Line, at.Column);
    }

    private static bool Contains(BinaryExpression at, object? container, object? item) => container switch
    {
        string text when item is string part => text.Contains(part, StringComparison.Ordinal),
        List<object?> list => list.Any(x => JinjaValues.Equals(x, item)),
        OrderedDictionary<string, object?> dict => item is string key && dict.ContainsKey(key),
        JinjaUndefined undefined => throw new ChatTemplateException($"'{undefined.Name}' is undefined (in 'in')", at.Line, at.Column),
        _ => throw new ChatTemplateException($"'in' does not apply to {JinjaValues.TypeName(item)} in {JinjaValues.TypeName(container)}", at.Line, at.Column),
    };
}
