using System.Globalization;

namespace LmHead.Extensions.Chat.Jinja;

/// <summary>
/// Parses Jinja expressions with Jinja's precedence: conditional <c>a if b else c</c>, <c>or</c>, <c>and</c>,
/// <c>not</c>, comparisons and <c>in</c>, <c>+ -</c>, <c>~</c>, <c>* / // %</c>, <c>**</c>, unary minus, then
/// postfix (<c>.name</c>, <c>[index]</c>, <c>[a:b]</c>, calls), filters (<c>|</c>) and tests (<c>is [not]</c>).
/// </summary>
internal abstract partial class JinjaExpressionParser(List<JinjaToken> tokens)
{
    private static readonly HashSet<string> Keywords = ["and", "or", "not", "in", "is", "if", "else", "elif", "endif", "endfor"];
    private int _position;

    protected JinjaToken Peek(int ahead = 0) => tokens[Math.Min(_position + ahead, tokens.Count - 1)];

    protected JinjaToken Next() => tokens[Math.Min(_position++, tokens.Count - 1)];

    protected JinjaToken Expect(JinjaTokenKind kind, string value)
    {
        var token = Next();
        return token.Kind == kind && token.Value == value
            ? token
            : throw new ChatTemplateException($"expected '{value}' but found '{(token.Kind == JinjaTokenKind.End ? "the end of the template" : token.Value)}'", token.Line, token.Column);
    }

    protected string ExpectName()
    {
        var token = Next();
        return token.Kind == JinjaTokenKind.Name
            ? token.Value
            : throw new ChatTemplateException($"expected a name but found '{token.Value}'", token.Line, token.Column);
    }

    protected JinjaExpression ParseExpression(bool allowConditional = true)
    {
        var expression = ParseOr();
        if (allowConditional && Peek().IsName("if"))
        {
            var token = Next();
            var condition = ParseOr();
            JinjaExpression? otherwise = null;
            if (Peek().IsName("else"))
            {
                Next();
                otherwise = ParseExpression();
            }

            return new ConditionalExpression(condition, expression, otherwise, token.Line, token.Column);
        }

        return expression;
    }

    private JinjaExpression ParseOr()
    {
        var left = ParseAnd();
        while (Peek().IsName("or"))
        {
            var token = Next();
            left = new BinaryExpression("or", left, ParseAnd(), token.Line, token.Column);
        }

        return left;
    }

    private JinjaExpression ParseAnd()
    {
        var left = ParseNot();
        while (Peek().IsName("and"))
        {
            var token = Next();
            left = new BinaryExpression("and", left, ParseNot(), token.Line, token.Column);
        }

        return left;
    }

    private JinjaExpression ParseNot()
    {
        if (Peek().IsName("not"))
        {
            var token = Next();
            return new UnaryExpression("not", ParseNot(), token.Line, token.Column);
        }

        return ParseComparison();
    }

    private JinjaExpression ParseComparison()
    {
        var left = ParseAdditive();
        while (true)
        {
            var token = Peek();
            string? op = token.Kind == JinjaTokenKind.Operator && token.Value is "==" or "!=" or "<" or ">" or "<=" or ">=" ? token.Value
                : token.IsName("in") ? "in"
                : token.IsName("not") && Peek(1).IsName("in") ? "not in"
                : null;
            if (op is null)
            {
                return left;
            }

            Next();
            if (op == "not in")
            {
                Next();
            }

            left = new BinaryExpression(op, left, ParseAdditive(), token.Line, token.Column);
        }
    }

    private JinjaExpression ParseAdditive()
    {
        var left = ParseConcat();
        while (Peek().Kind == JinjaTokenKind.Operator && Peek().Value is "+" or "-")
        {
            var token = Next();
            left = new BinaryExpression(token.Value, left, ParseConcat(), token.Line, token.Column);
        }

        return left;
    }

    private JinjaExpression ParseConcat()
    {
        var left = ParseMultiplicative();
        while (Peek().IsOperator("~"))
        {
            var token = Next();
            left = new BinaryExpression("~", left, ParseMultiplicative(), token.Line, token.Column);
        }

        return left;
    }

    private JinjaExpression ParseMultiplicative()
    {
        var left = ParsePower();
        while (Peek().Kind == JinjaTokenKind.Operator && Peek().Value is "*" or "/" or "//" or "%")
        {
            var token = Next();
            left = new BinaryExpression(token.Value, left, ParsePower(), token.Line, token.Column);
        }

        return left;
    }

    private JinjaExpression ParsePower()
    {
        var left = ParseUnary();
        while (Peek().IsOperator("**"))
        {
            var token = Next();
            left = new BinaryExpression("**", left, ParseUnary(), token.Line, token.Column);
        }

        return left;
    }

    private JinjaExpression ParseUnary()
    {
        var token = Peek();
        if (token.Kind == JinjaTokenKind.Operator && token.Value is "-" or "+")
        {
            Next();
            return new UnaryExpression(token.Value, ParseUnary(), token.Line, token.Column);
        }

        return ParseFiltersAndTests(ParsePostfix(ParsePrimary()));
    }

    private JinjaExpression ParsePrimary()
    {
        var token = Next();
        switch (token.Kind)
        {
            case JinjaTokenKind.String:
                string text = token.Value;
                while (Peek().Kind == JinjaTokenKind.String)
                {
                    text += Next().Value; // adjacent literals concatenate, as in Python
                }

                return new LiteralExpression(text, token.Line, token.Column);
            case JinjaTokenKind.Integer:
                return new LiteralExpression(long.Parse(token.Value, CultureInfo.InvariantCulture), token.Line, token.Column);
            case JinjaTokenKind.Float:
                return new LiteralExpression(double.Parse(token.Value, CultureInfo.InvariantCulture), token.Line, token.Column);
            case JinjaTokenKind.Name:
                return token.Value switch
                {
                    "true" or "True" => new LiteralExpression(true, token.Line, token.Column),
                    "false" or "False" => new LiteralExpression(false, token.Line, token.Column),
                    "none" or "None" => new LiteralExpression(null, token.Line, token.Column),
                    _ => new NameExpression(token.Value, token.Line, token.Column),
                };
            case JinjaTokenKind.Operator when token.Value == "(":
                var inner = ParseExpression();
                if (Peek().IsOperator(","))
                {
                    var items = new List<JinjaExpression> { inner };
                    while (Peek().IsOperator(","))
                    {
                        Next();
                        if (Peek().IsOperator(")"))
                        {
                            break;
                        }

                        items.Add(ParseExpression());
                    }

                    inner = new ListExpression(items, token.Line, token.Column);
                }

                Expect(JinjaTokenKind.Operator, ")");
                return inner;
            case JinjaTokenKind.Operator when token.Value == "[":
                var list = new List<JinjaExpression>();
                while (!Peek().IsOperator("]"))
                {
                    list.Add(ParseExpression());
                    if (!Peek().IsOperator("]"))
                    {
                        Expect(JinjaTokenKind.Operator, ",");
                    }
                }

                Next();
                return new ListExpression(list, token.Line, token.Column);
            case JinjaTokenKind.Operator when token.Value == "{":
                var entries = new List<(JinjaExpression, JinjaExpression)>();
                while (!Peek().IsOperator("}"))
                {
                    var key = ParseExpression();
                    Expect(JinjaTokenKind.Operator, ":");
                    entries.Add((key, ParseExpression()));
                    if (!Peek().IsOperator("}"))
                    {
                        Expect(JinjaTokenKind.Operator, ",");
                    }
                }

                Next();
                return new DictExpression(entries, token.Line, token.Column);
            default:
                throw new ChatTemplateException($"expected an expression but found '{(token.Kind == JinjaTokenKind.End ? "the end of the template" : token.Value)}'", token.Line, token.Column);
        }
    }
}
