namespace LmHead.Extensions.Chat.Jinja;

// The syntax tree of a template. Every node keeps its position for error messages.

/// <summary>A statement or text of the template body.</summary>
internal abstract record JinjaNode(int Line, int Column);

internal sealed record TextNode(string Text, int Line, int Column) : JinjaNode(Line, Column);

internal sealed record OutputNode(JinjaExpression Expression, int Line, int Column) : JinjaNode(Line, Column);

internal sealed record IfNode(IReadOnlyList<(JinjaExpression Condition, IReadOnlyList<JinjaNode> Body)> Branches, IReadOnlyList<JinjaNode>? Else, int Line, int Column)
    : JinjaNode(Line, Column);

internal sealed record ForNode(
    IReadOnlyList<string> Targets, JinjaExpression Iterable, JinjaExpression? Filter, IReadOnlyList<JinjaNode> Body, IReadOnlyList<JinjaNode>? Else, int Line, int Column)
    : JinjaNode(Line, Column);

internal sealed record SetNode(string Name, string? Attribute, JinjaExpression Value, int Line, int Column) : JinjaNode(Line, Column);

internal sealed record SetBlockNode(string Name, IReadOnlyList<JinjaNode> Body, int Line, int Column) : JinjaNode(Line, Column);

internal sealed record LoopControlNode(bool IsBreak, int Line, int Column) : JinjaNode(Line, Column);

internal sealed record MacroNode(string Name, IReadOnlyList<(string Name, JinjaExpression? Default)> Parameters, IReadOnlyList<JinjaNode> Body, int Line, int Column)
    : JinjaNode(Line, Column);

/// <summary>An expression.</summary>
internal abstract record JinjaExpression(int Line, int Column);

internal sealed record LiteralExpression(object? Value, int Line, int Column) : JinjaExpression(Line, Column);

internal sealed record NameExpression(string Name, int Line, int Column) : JinjaExpression(Line, Column);

internal sealed record AttributeExpression(JinjaExpression Target, string Name, int Line, int Column) : JinjaExpression(Line, Column);

internal sealed record IndexExpression(JinjaExpression Target, JinjaExpression Index, int Line, int Column) : JinjaExpression(Line, Column);

internal sealed record SliceExpression(JinjaExpression Target, JinjaExpression? Start, JinjaExpression? Stop, JinjaExpression? Step, int Line, int Column)
    : JinjaExpression(Line, Column);

internal sealed record CallExpression(JinjaExpression Callee, IReadOnlyList<JinjaExpression> Arguments, IReadOnlyList<(string Name, JinjaExpression Value)> Named, int Line, int Column)
    : JinjaExpression(Line, Column);

internal sealed record FilterExpression(JinjaExpression Target, string Name, IReadOnlyList<JinjaExpression> Arguments, IReadOnlyList<(string Name, JinjaExpression Value)> Named, int Line, int Column)
    : JinjaExpression(Line, Column);

internal sealed record TestExpression(JinjaExpression Target, string Name, bool Negated, IReadOnlyList<JinjaExpression> Arguments, int Line, int Column)
    : JinjaExpression(Line, Column);

internal sealed record BinaryExpression(string Operator, JinjaExpression Left, JinjaExpression Right, int Line, int Column) : JinjaExpression(Line, Column);

internal sealed record UnaryExpression(string Operator, JinjaExpression Operand, int Line, int Column) : JinjaExpression(Line, Column);

internal sealed record ConditionalExpression(JinjaExpression Condition, JinjaExpression Then, JinjaExpression? Else, int Line, int Column) : JinjaExpression(Line, Column);

internal sealed record ListExpression(IReadOnlyList<JinjaExpression> Items, int Line, int Column) : JinjaExpression(Line, Column);

internal sealed record DictExpression(IReadOnlyList<(JinjaExpression Key, JinjaExpression Value)> Items, int Line, int Column) : JinjaExpression(Line, Column);
