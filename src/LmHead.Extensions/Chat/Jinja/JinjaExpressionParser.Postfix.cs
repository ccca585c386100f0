using System.Globalization;

namespace LmHead.Extensions.Chat.Jinja;

/// <content>Postfix operations (attributes, items, slices, calls), filters and tests.</content>
internal abstract partial class JinjaExpressionParser
{
    private JinjaExpression ParsePostfix(JinjaExpression target)
    {
        while (true)
        {
            var token = Peek();
            if (token.IsOperator("."))
            {
                Next();
                var name = Next();
                target = name.Kind switch
                {
                    JinjaTokenKind.Name => new AttributeExpression(target, name.Value, token.Line, token.Column),
                    JinjaTokenKind.Integer => new IndexExpression(target, new LiteralExpression(long.Parse(name.Value, CultureInfo.InvariantCulture), name.Line, name.Column), token.Line, token.Column),
                    _ => throw new ChatTemplateException($"expected an attribute name after '.' but found '{name.Value}'", name.Line, name.Column),
                };
            }
            else if (token.IsOperator("["))
            {
                Next();
                target = ParseSubscript(target, token);
            }
            else if (token.IsOperator("("))
            {
                Next();
                var (arguments, named) = ParseArguments();
                target = new CallExpression(target, arguments, named, token.Line, token.Column);
            }
            else
            {
                return target;
            }
        }
    }

    private JinjaExpression ParseSubscript(JinjaExpression target, JinjaToken open)
    {
        JinjaExpression? start = Peek().IsOperator(":") ? null : ParseExpression();
        if (!Peek().IsOperator(":"))
        {
            Expect(JinjaTokenKind.Operator, "]");
            return new IndexExpression(target, start!, open.Line, open.Column);
        }

        Next();
        JinjaExpression? stop = Peek().IsOperator(":") || Peek().IsOperator("]") ? null : ParseExpression();
        JinjaExpression? step = null;
        if (Peek().IsOperator(":"))
        {
            Next();
            step = Peek().IsOperator("]") ? null : ParseExpression();
        }

        Expect(JinjaTokenKind.Operator, "]");
        return new SliceExpression(target, start, stop, step, open.Line, open.Column);
    }

    // After '(': positional and name=value arguments up to ')'.
    private (List<JinjaExpression>, List<(string, JinjaExpression)>) ParseArguments()
    {
        var arguments = new List<JinjaExpression>();
        var named = new List<(string, JinjaExpression)>();
        while (!Peek().IsOperator(")"))
        {
            if (Peek().Kind == JinjaTokenKind.Name && Peek(1).IsOperator("="))
            {
                string name = Next().Value;
                Next();
                named.Add((name, ParseExpression()));
            }
            else
            {
                arguments.Add(ParseExpression());
            }

            if (!Peek().IsOperator(")"))
            {
                Expect(JinjaTokenKind.Operator, ",");
            }
        }

        Next();
        return (arguments, named);
    }

    private JinjaExpression ParseFiltersAndTests(JinjaExpression target)
    {
        while (true)
        {
            var token = Peek();
            if (token.IsOperator("|"))
            {
                Next();
                var nameToken = Peek();
                string name = ExpectName();
                if (!JinjaFilters.FilterNames.Contains(name))
                {
                    throw new ChatTemplateException($"unsupported filter '{name}'", nameToken.Line, nameToken.Column);
                }

                List<JinjaExpression> arguments = [];
                List<(string, JinjaExpression)> named = [];
                if (Peek().IsOperator("("))
                {
                    Next();
                    (arguments, named) = ParseArguments();
                }

                target = new FilterExpression(target, name, arguments, named, token.Line, token.Column);
            }
            else if (token.IsName("is"))
            {
                Next();
                bool negated = false;
                if (Peek().IsName("not"))
                {
                    Next();
                    negated = true;
                }

                var nameToken = Next();
                if (nameToken.Kind != JinjaTokenKind.Name)
                {
                    throw new ChatTemplateException($"expected a test name after 'is' but found '{nameToken.Value}'", nameToken.Line, nameToken.Column);
                }

                if (!JinjaFilters.TestNames.Contains(nameToken.Value) && nameToken.Value != "None")
                {
                    throw new ChatTemplateException($"unsupported test '{nameToken.Value}'", nameToken.Line, nameToken.Column);
                }

                List<JinjaExpression> arguments = [];
                var next = Peek();
                if (next.IsOperator("("))
                {
                    Next();
                    (arguments, _) = ParseArguments();
                }
                else if (next.Kind is JinjaTokenKind.String or JinjaTokenKind.Integer or JinjaTokenKind.Float
                    || (next.Kind == JinjaTokenKind.Name && !Keywords.Contains(next.Value)))
                {
                    arguments = [ParsePostfix(ParsePrimary())];
                }

                target = new TestExpression(target, nameToken.Value == "none" || nameToken.Value == "None" ? "none" : nameToken.Value, negated, arguments, token.Line, token.Column);
            }
            else
            {
                return target;
            }
        }
    }
}
