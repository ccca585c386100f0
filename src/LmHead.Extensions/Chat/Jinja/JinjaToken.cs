namespace LmHead.Extensions.Chat.Jinja;

/// <summary>The kinds of token the Jinja lexer produces.</summary>
internal enum JinjaTokenKind
{
    /// <summary>Literal template text (whitespace control already applied).</summary>
    Text,

    /// <summary>The start of <c>{{ ... }}</c>.</summary>
    OutputStart,

    /// <summary>The end of <c>{{ ... }}</c>.</summary>
    OutputEnd,

    /// <summary>The start of <c>{% ... %}</c>.</summary>
    StatementStart,

    /// <summary>The end of <c>{% ... %}</c>.</summary>
    StatementEnd,

    /// <summary>A name or keyword.</summary>
    Name,

    /// <summary>A string literal (value unescaped).</summary>
    String,

    /// <summary>An integer literal.</summary>
    Integer,

    /// <summary>A float literal.</summary>
    Float,

    /// <summary>An operator or punctuation.</summary>
    Operator,

    /// <summary>The end of the template.</summary>
    End,
}

/// <summary>A token with its position (1-based line and column) in the template.</summary>
internal readonly record struct JinjaToken(JinjaTokenKind Kind, string Value, int Line, int Column)
{
    public bool Is(JinjaTokenKind kind, string value) => Kind == kind && Value == value;

    public bool IsOperator(string value) => Is(JinjaTokenKind.Operator, value);

    public bool IsName(string value) => Is(JinjaTokenKind.Name, value);
}
