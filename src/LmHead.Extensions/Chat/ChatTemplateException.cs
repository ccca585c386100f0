namespace LmHead.Extensions.Chat;

/// <summary>
/// A chat template could not be parsed or rendered: a construct this library's Jinja subset does not support (named,
/// with its line and column), a syntax error, an error the template raised itself (<c>raise_exception</c>), or an
/// operation on an undefined value.
/// </summary>
public sealed class ChatTemplateException : Exception
{
    /// <summary>Creates the exception with no details.</summary>
    public ChatTemplateException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What is wrong.</param>
    public ChatTemplateException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    /// <param name="message">What is wrong.</param>
    /// <param name="innerException">The underlying error.</param>
    public ChatTemplateException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a position in the template.</summary>
    /// <param name="message">What is wrong.</param>
    /// <param name="line">The 1-based line.</param>
    /// <param name="column">The 1-based column.</param>
    public ChatTemplateException(string message, int line, int column)
        : base($"{message} (chat template line {line}, column {column})")
    {
        Line = line;
        Column = column;
    }

    /// <summary>The 1-based line in the template, or 0 when not known.</summary>
    public int Line { get; }

    /// <summary>The 1-based column in the template, or 0 when not known.</summary>
    public int Column { get; }
}
