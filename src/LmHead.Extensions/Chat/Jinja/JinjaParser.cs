namespace LmHead.Extensions.Chat.Jinja;

/// <summary>
/// Parses the statements of a Jinja template: <c>if/elif/else</c>, <c>for ... in ... [if ...]</c> with <c>else</c>,
/// <c>set</c> (names, namespace attributes, blocks), <c>macro</c>, <c>break</c>/<c>continue</c> and Hugging Face's
/// <c>generation</c> marker. Expressions are parsed by <see cref="JinjaExpressionParser"/>.
/// </summary>
internal sealed class JinjaParser : JinjaExpressionParser
{
    private JinjaParser(List<JinjaToken> tokens)
        : base(tokens)
    {
    }

    /// <summary>Parses a template.</summary>
    /// <exception cref="ChatTemplateException">A syntax error or an unsupported construct, with its position.</exception>
    public static IReadOnlyList<JinjaNode> Parse(string source)
    {
        var parser = new JinjaParser(JinjaLexer.Tokenize(source));
        var body = parser.ParseBody(out var end);
        if (end is not null)
        {
            throw new ChatTemplateException($"unexpected '{{% {end.Value.Value} %}}' with no block to close", end.Value.Line, end.Value.Column);
        }

        return body;
    }

    // Parses nodes until the end of the template (end = null) or a statement whose keyword the caller closes on:
    // the returned token is that keyword, the parser then stands after it.
    private List<JinjaNode> ParseBody(out JinjaToken? end, params string[] closers)
    {
        var nodes = new List<JinjaNode>();
        while (true)
        {
            var token = Next();
            switch (token.Kind)
            {
                case JinjaTokenKind.End:
                    if (closers.Length > 0)
                    {
                        throw new ChatTemplateException($"missing '{{% {closers[^1]} %}}' at the end of the template", token.Line, token.Column);
                    }

                    end = null;
                    return nodes;
                case JinjaTokenKind.Text:
                    nodes.Add(new TextNode(token.Value, token.Line, token.Column));
                    break;
                case JinjaTokenKind.OutputStart:
                    nodes.Add(new OutputNode(ParseExpression(), token.Line, token.Column));
                    Expect(JinjaTokenKind.OutputEnd, "}}");
                    break;
                case JinjaTokenKind.StatementStart:
                    var keyword = Peek();
                    if (keyword.Kind == JinjaTokenKind.Name && closers.Contains(keyword.Value))
                    {
                        Next();
                        end = keyword;
                        return nodes;
                    }

                    if (ParseStatement(token) is { } node)
                    {
                        nodes.Add(node);
                    }

                    break;
                default:
                    throw new ChatTemplateException($"unexpected '{token.Value}'", token.Line, token.Column);
            }
        }
    }

    private JinjaNode? ParseStatement(JinjaToken start)
    {
        var keyword = Next();
        if (keyword.Kind != JinjaTokenKind.Name)
        {
            throw new ChatTemplateException($"expected a statement name after '{{%' but found '{keyword.Value}'", keyword.Line, keyword.Column);
        }

        switch (keyword.Value)
        {
            case "if": return ParseIf(start);
            case "for": return ParseFor(start);
            case "set": return ParseSet(start);
            case "macro": return ParseMacro(start);
            case "break" or "continue":
                Expect(JinjaTokenKind.StatementEnd, "%}");
                return new LoopControlNode(keyword.Value == "break", start.Line, start.Column);
            case "generation":
                // Hugging Face's AssistantTracker marks assistant text for masks; rendering just emits the body.
                Expect(JinjaTokenKind.StatementEnd, "%}");
                var body = ParseBody(out _, "endgeneration");
                Expect(JinjaTokenKind.StatementEnd, "%}");
                return new IfNode([(new LiteralExpression(true, start.Line, start.Column), body)], null, start.Line, start.Column);
            default:
                throw new ChatTemplateException($"unsupported construct '{{% {keyword.Value} %}}'", keyword.Line, keyword.Column);
        }
    }

    private IfNode ParseIf(JinjaToken start)
    {
        var branches = new List<(JinjaExpression, IReadOnlyList<JinjaNode>)>();
        var condition = ParseExpression();
        while (true)
        {
            Expect(JinjaTokenKind.StatementEnd, "%}");
            var body = ParseBody(out var end, "elif", "else", "endif");
            branches.Add((condition, body));
            switch (end!.Value.Value)
            {
                case "elif":
                    condition = ParseExpression();
                    continue;
                case "else":
                    Expect(JinjaTokenKind.StatementEnd, "%}");
                    var elseBody = ParseBody(out _, "endif");
                    Expect(JinjaTokenKind.StatementEnd, "%}");
                    return new IfNode(branches, elseBody, start.Line, start.Column);
                default:
                    Expect(JinjaTokenKind.StatementEnd, "%}");
                    return new IfNode(branches, null, start.Line, start.Column);
            }
        }
    }

    private ForNode ParseFor(JinjaToken start)
    {
        var targets = new List<string> { ExpectName() };
        while (Peek().IsOperator(","))
        {
            Next();
            targets.Add(ExpectName());
        }

        var keyword = Next();
        if (!keyword.IsName("in"))
        {
            throw new ChatTemplateException($"expected 'in' in '{{% for %}}' but found '{keyword.Value}'", keyword.Line, keyword.Column);
        }

        var iterable = ParseExpression(allowConditional: false);
        JinjaExpression? filter = null;
        if (Peek().IsName("if"))
        {
            Next();
            filter = ParseExpression(allowConditional: false);
        }

        if (Peek().IsName("recursive"))
        {
            var recursive = Peek();
            throw new ChatTemplateException("unsupported construct 'for ... recursive'", recursive.Line, recursive.Column);
        }

        Expect(JinjaTokenKind.StatementEnd, "%}");
        var body = ParseBody(out var end, "else", "endfor");
        List<JinjaNode>? elseBody = null;
        if (end!.Value.Value == "else")
        {
            Expect(JinjaTokenKind.StatementEnd, "%}");
            elseBody = ParseBody(out _, "endfor");
        }

        Expect(JinjaTokenKind.StatementEnd, "%}");
        return new ForNode(targets, iterable, filter, body, elseBody, start.Line, start.Column);
    }

    private JinjaNode ParseSet(JinjaToken start)
    {
        string name = ExpectName();
        string? attribute = null;
        if (Peek().IsOperator("."))
        {
            Next();
            attribute = ExpectName();
        }

        if (Peek().Kind == JinjaTokenKind.StatementEnd && attribute is null)
        {
            Next();
            var body = ParseBody(out _, "endset");
            Expect(JinjaTokenKind.StatementEnd, "%}");
            return new SetBlockNode(name, body, start.Line, start.Column);
        }

        if (Peek().IsOperator(","))
        {
            var comma = Peek();
            throw new ChatTemplateException("unsupported construct 'set a, b = ...' (tuple assignment)", comma.Line, comma.Column);
        }

        Expect(JinjaTokenKind.Operator, "=");
        var value = ParseExpression();
        Expect(JinjaTokenKind.StatementEnd, "%}");
        return new SetNode(name, attribute, value, start.Line, start.Column);
    }

    private MacroNode ParseMacro(JinjaToken start)
    {
        string name = ExpectName();
        Expect(JinjaTokenKind.Operator, "(");
        var parameters = new List<(string, JinjaExpression?)>();
        while (!Peek().IsOperator(")"))
        {
            string parameter = ExpectName();
            JinjaExpression? fallback = null;
            if (Peek().IsOperator("="))
            {
                Next();
                fallback = ParseExpression();
            }

            parameters.Add((parameter, fallback));
            if (!Peek().IsOperator(")"))
            {
                Expect(JinjaTokenKind.Operator, ",");
            }
        }

        Next();
        Expect(JinjaTokenKind.StatementEnd, "%}");
        var body = ParseBody(out _, "endmacro");
        Expect(JinjaTokenKind.StatementEnd, "%}");
        return new MacroNode(name, parameters, body, start.Line, start.Column);
    }
}
