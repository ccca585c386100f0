namespace LmHead.Extensions.Chat.Jinja;

/// <content>Expression evaluation: names, attributes, indexing, slicing, calls and operators.</content>
internal sealed partial class JinjaRenderer
{
    private object? Evaluate(JinjaExpression expression, JinjaScope scope)
    {
        switch (expression)
        {
            case LiteralExpression literal:
                return literal.Value;
            case NameExpression name:
                return scope.Get(name.Name);
            case AttributeExpression attribute:
                return GetAttribute(Evaluate(attribute.Target, scope), attribute.Name, attribute);
            case IndexExpression index:
                return GetItem(Evaluate(index.Target, scope), Evaluate(index.Index, scope), index);
            case SliceExpression slice:
                return Slice(slice, scope);
            case CallExpression call:
                return Call(call, scope);
            case FilterExpression filter:
                return JinjaFilters.Apply(this, filter, Evaluate(filter.Target, scope), [.. filter.Arguments.Select(a => Evaluate(a, scope))],
                    filter.Named.ToDictionary(p => p.Name, p => Evaluate(p.Value, scope), StringComparer.Ordinal));
            case TestExpression test:
                bool result = JinjaFilters.Test(this, test.Name, Evaluate(test.Target, scope), [.. test.Arguments.Select(a => Evaluate(a, scope))], test);
                return test.Negated ? !result : result;
            case UnaryExpression unary:
                return Unary(unary, Evaluate(unary.Operand, scope));
            case BinaryExpression { Operator: "and" } and:
                var left = Evaluate(and.Left, scope);
                return JinjaValues.Truthy(left) ? Evaluate(and.Right, scope) : left;
            case BinaryExpression { Operator: "or" } or:
                var first = Evaluate(or.Left, scope);
                return JinjaValues.Truthy(first) ? first : Evaluate(or.Right, scope);
            case BinaryExpression binary:
                return JinjaOperators.Binary(binary, Evaluate(binary.Left, scope), Evaluate(binary.Right, scope));
            case ConditionalExpression conditional:
                return JinjaValues.Truthy(Evaluate(conditional.Condition, scope))
                    ? Evaluate(conditional.Then, scope)
                    : conditional.Else is null ? new JinjaUndefined("else") : Evaluate(conditional.Else, scope);
            case ListExpression list:
                return list.Items.Select(item => Evaluate(item, scope)).ToList();
            case DictExpression dict:
                var result2 = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (key, value) in dict.Items)
                {
                    result2[JinjaValues.ToText(Evaluate(key, scope))] = Evaluate(value, scope);
                }

                return result2;
            default:
                throw new ChatTemplateException($"unsupported expression {expression.GetType().Name}", expression.Line, expression.Column);
        }
    }

    /// <summary>Calls a function value (a global, a macro) with evaluated arguments.</summary>
    internal static object? Invoke(object? callee, IReadOnlyList<object?> arguments, IReadOnlyDictionary<string, object?> named, JinjaExpression at) =>
        callee is JinjaFunction function
            ? function(arguments, named)
            : throw new ChatTemplateException($"{Describe(at)} is {JinjaValues.TypeName(callee)}, which cannot be called", at.Line, at.Column);

    private object? Call(CallExpression call, JinjaScope scope)
    {
        var arguments = call.Arguments.Select(a => Evaluate(a, scope)).ToList();
        var named = call.Named.ToDictionary(p => p.Name, p => Evaluate(p.Value, scope), StringComparer.Ordinal);
        if (call.Callee is AttributeExpression method)
        {
            var target = Evaluate(method.Target, scope);
            if (JinjaMethods.TryCall(target, method.Name, arguments, named, call, out var result))
            {
                return result;
            }
        }

        return Invoke(Evaluate(call.Callee, scope), arguments, named, call.Callee);
    }

    private static object? GetAttribute(object? target, string name, JinjaExpression at) => target switch
    {
        OrderedDictionary<string, object?> dict => dict.TryGetValue(name, out var value) ? value : new JinjaUndefined(name),
        JinjaNamespace ns => ns.Attributes.TryGetValue(name, out var value) ? value : new JinjaUndefined(name),
        JinjaUndefined undefined => throw new ChatTemplateException($"'{undefined.Name}' is undefined, so it has no attribute '{name}'", at.Line, at.Column),
        null => throw new ChatTemplateException($"{Describe(at)} is none, so it has no attribute '{name}'", at.Line, at.Column),
        _ => new JinjaUndefined(name),
    };

    internal static object? GetItem(object? target, object? index, JinjaExpression at)
    {
        switch (target)
        {
            case OrderedDictionary<string, object?> dict:
                return index is string key && dict.TryGetValue(key, out var value) ? value : new JinjaUndefined(JinjaValues.ToText(index));
            case List<object?> list when index is long i:
                long position = i < 0 ? list.Count + i : i;
                return position >= 0 && position < list.Count ? list[(int)position] : new JinjaUndefined($"[{i}]");
            case string text when index is long i:
                long at2 = i < 0 ? text.Length + i : i;
                return at2 >= 0 && at2 < text.Length ? text[(int)at2].ToString() : new JinjaUndefined($"[{i}]");
            case JinjaNamespace ns when index is string name:
                return ns.Attributes.TryGetValue(name, out var attribute) ? attribute : new JinjaUndefined(name);
            case JinjaUndefined undefined:
                throw new ChatTemplateException($"'{undefined.Name}' is undefined, so it cannot be indexed", at.Line, at.Column);
            default:
                throw new ChatTemplateException($"{JinjaValues.TypeName(target)} cannot be indexed with {JinjaValues.TypeName(index)}", at.Line, at.Column);
        }
    }

    private object? Slice(SliceExpression slice, JinjaScope scope)
    {
        var target = Evaluate(slice.Target, scope);
        long? Bound(JinjaExpression? e)
        {
            if (e is null)
            {
                return null;
            }

            var value = Evaluate(e, scope);
            return value is long l ? l : value is null ? null
                : throw new ChatTemplateException($"slice bounds must be integers, not {JinjaValues.TypeName(value)}", e.Line, e.Column);
        }

        long? start = Bound(slice.Start), stop = Bound(slice.Stop), step = Bound(slice.Step);
        List<object?> items = target switch
        {
            List<object?> list => list,
            string text => [.. text.Select(c => (object?)c.ToString())],
            _ => throw new ChatTemplateException($"{JinjaValues.TypeName(target)} cannot be sliced", slice.Line, slice.Column),
        };
        var picked = PythonSlice(items, start, stop, step ?? 1, slice);
        return target is string ? string.Concat(picked.Cast<string>()) : picked;
    }

    private static List<object?> PythonSlice(List<object?> items, long? start, long? stop, long step, JinjaExpression at)
    {
        if (step == 0)
        {
            throw new ChatTemplateException("slice step cannot be zero", at.Line, at.Column);
        }

        long n = items.Count;
        long Clamp(long? value, long fallback, long low, long high) =>
            value is not { } v ? fallback : Math.Clamp(v < 0 ? v + n : v, low, high);
        var result = new List<object?>();
        if (step > 0)
        {
            for (long i = Clamp(start, 0, 0, n), end = Clamp(stop, n, 0, n); i < end; i += step)
            {
                result.Add(items[(int)i]);
            }
        }
        else
        {
            for (long i = Clamp(start, n - 1, -1, n - 1), end = Clamp(stop, -1, -1, n - 1); i > end; i += step)
            {
                result.Add(items[(int)i]);
            }
        }

        return result;
    }

    private static object? Unary(UnaryExpression unary, object? operand) => unary.Operator switch
    {
        "not" => !JinjaValues.Truthy(operand),
        "-" when operand is long l => -l,
        "-" when operand is double d => -d,
        "+" when operand is long or double => operand,
        _ => throw new ChatTemplateException($"unary '{unary.Operator}' does not apply to {JinjaValues.TypeName(operand)}", unary.Line, unary.Column),
    };

    internal static string Describe(JinjaExpression expression) => expression switch
    {
        NameExpression name => $"'{name.Name}'",
        AttributeExpression attribute => $"{Describe(attribute.Target).Trim('\'')}.{attribute.Name}".Insert(0, "'") + "'",
        _ => "the value",
    };
}
