using System.Text;

namespace LmHead.Extensions.Chat.Jinja;

/// <summary>Renders a parsed template: statements write to the output, expressions evaluate to interpreter values.</summary>
internal sealed partial class JinjaRenderer
{
    private enum Flow
    {
        Normal,
        Break,
        Continue,
    }

    private readonly StringBuilder _output = new();
    private readonly Func<DateTimeOffset> _clock;

    private JinjaRenderer(Func<DateTimeOffset> clock) => _clock = clock;

    /// <summary>Renders <paramref name="nodes"/> with <paramref name="globals"/> as the root variables.</summary>
    public static string Render(IReadOnlyList<JinjaNode> nodes, IReadOnlyDictionary<string, object?> globals, Func<DateTimeOffset> clock)
    {
        var renderer = new JinjaRenderer(clock);
        var root = new JinjaScope(null);
        renderer.AddBuiltIns(root);
        foreach (var (name, value) in globals)
        {
            root.Set(name, value);
        }

        renderer.RenderNodes(nodes, new JinjaScope(root), renderer._output);
        return renderer._output.ToString();
    }

    private Flow RenderNodes(IReadOnlyList<JinjaNode> nodes, JinjaScope scope, StringBuilder output)
    {
        foreach (var node in nodes)
        {
            var flow = RenderNode(node, scope, output);
            if (flow != Flow.Normal)
            {
                return flow;
            }
        }

        return Flow.Normal;
    }

    private Flow RenderNode(JinjaNode node, JinjaScope scope, StringBuilder output)
    {
        switch (node)
        {
            case TextNode text:
                output.Append(text.Text);
                return Flow.Normal;
            case OutputNode print:
                output.Append(JinjaValues.ToText(Evaluate(print.Expression, scope)));
                return Flow.Normal;
            case IfNode branch:
                foreach (var (condition, body) in branch.Branches)
                {
                    if (JinjaValues.Truthy(Evaluate(condition, scope)))
                    {
                        return RenderNodes(body, scope, output);
                    }
                }

                return branch.Else is null ? Flow.Normal : RenderNodes(branch.Else, scope, output);
            case ForNode loop:
                return RenderFor(loop, scope, output);
            case SetNode set:
                Assign(set, scope);
                return Flow.Normal;
            case SetBlockNode block:
                var captured = new StringBuilder();
                RenderNodes(block.Body, scope, captured);
                scope.Set(block.Name, captured.ToString());
                return Flow.Normal;
            case MacroNode macro:
                scope.Set(macro.Name, DefineMacro(macro, scope));
                return Flow.Normal;
            case LoopControlNode control:
                return control.IsBreak ? Flow.Break : Flow.Continue;
            default:
                throw new ChatTemplateException($"unsupported node {node.GetType().Name}", node.Line, node.Column);
        }
    }

    private void Assign(SetNode set, JinjaScope scope)
    {
        var value = Evaluate(set.Value, scope);
        if (set.Attribute is null)
        {
            scope.Set(set.Name, value);
            return;
        }

        if (scope.Get(set.Name) is not JinjaNamespace ns)
        {
            throw new ChatTemplateException($"'{{% set {set.Name}.{set.Attribute} %}}' needs '{set.Name}' to be a namespace(), but it is {JinjaValues.TypeName(scope.Get(set.Name))}", set.Line, set.Column);
        }

        ns.Attributes[set.Attribute] = value;
    }

    private Flow RenderFor(ForNode loop, JinjaScope scope, StringBuilder output)
    {
        var iterable = Evaluate(loop.Iterable, scope);
        var items = JinjaValues.Iterate(iterable)?.ToList()
            ?? throw new ChatTemplateException($"'{{% for %}}' cannot iterate over {JinjaValues.TypeName(iterable)}", loop.Line, loop.Column);
        if (loop.Filter is not null)
        {
            items = [.. items.Where(item => JinjaValues.Truthy(Evaluate(loop.Filter, Bind(loop, item, scope, null))))];
        }

        if (items.Count == 0)
        {
            return loop.Else is null ? Flow.Normal : RenderNodes(loop.Else, scope, output);
        }

        for (int i = 0; i < items.Count; i++)
        {
            var state = new OrderedDictionary<string, object?>(StringComparer.Ordinal)
            {
                ["index"] = (long)(i + 1),
                ["index0"] = (long)i,
                ["revindex"] = (long)(items.Count - i),
                ["revindex0"] = (long)(items.Count - i - 1),
                ["first"] = i == 0,
                ["last"] = i == items.Count - 1,
                ["length"] = (long)items.Count,
                ["previtem"] = i > 0 ? items[i - 1] : new JinjaUndefined("loop.previtem"),
                ["nextitem"] = i + 1 < items.Count ? items[i + 1] : new JinjaUndefined("loop.nextitem"),
            };
            if (RenderNodes(loop.Body, Bind(loop, items[i], scope, state), output) == Flow.Break)
            {
                break;
            }
        }

        return Flow.Normal;
    }

    private static JinjaScope Bind(ForNode loop, object? item, JinjaScope scope, OrderedDictionary<string, object?>? state)
    {
        var frame = new JinjaScope(scope);
        if (state is not null)
        {
            frame.Set("loop", state);
        }

        if (loop.Targets.Count == 1)
        {
            frame.Set(loop.Targets[0], item);
            return frame;
        }

        if (item is not List<object?> tuple || tuple.Count != loop.Targets.Count)
        {
            throw new ChatTemplateException($"cannot unpack {JinjaValues.TypeName(item)} into {loop.Targets.Count} loop variables", loop.Line, loop.Column);
        }

        for (int i = 0; i < tuple.Count; i++)
        {
            frame.Set(loop.Targets[i], tuple[i]);
        }

        return frame;
    }

    private JinjaFunction DefineMacro(MacroNode macro, JinjaScope definitionScope) => (arguments, named) =>
    {
        var frame = new JinjaScope(definitionScope);
        for (int i = 0; i < macro.Parameters.Count; i++)
        {
            var (name, fallback) = macro.Parameters[i];
            frame.Set(name, i < arguments.Count ? arguments[i]
                : named.TryGetValue(name, out var value) ? value
                : fallback is null ? new JinjaUndefined(name) : Evaluate(fallback, definitionScope));
        }

        var output = new StringBuilder();
        RenderNodes(macro.Body, frame, output);
        return output.ToString();
    };
}
