using System.Globalization;
using System.Text;

namespace LmHead.Extensions.Chat.Jinja;

/// <summary>
/// Splits a Jinja template into tokens, applying whitespace control the way Hugging Face configures Jinja for chat
/// templates: <c>trim_blocks</c> (the newline after a block or comment tag goes) and <c>lstrip_blocks</c> (spaces and
/// tabs between a line start and a block or comment tag go), plus <c>{%-</c> / <c>-%}</c> (all whitespace before /
/// after the tag goes) and <c>{%+</c> / <c>+%}</c> (no lstrip / trim).
/// </summary>
internal sealed partial class JinjaLexer
{
    private static readonly string[] LongOperators = ["**", "//", "==", "!=", "<=", ">="];
    private const string ShortOperators = "+-*/%~<>=()[]{},.:|";

    private readonly string _source;
    private readonly List<JinjaToken> _tokens = [];
    private readonly List<int> _lineStarts = [0];
    private StringBuilder? _text;
    private int _textStart;
    private bool _stripNextText;

    private JinjaLexer(string source)
    {
        _source = source;
        for (int i = 0; i < source.Length; i++)
        {
            if (source[i] == '\n')
            {
                _lineStarts.Add(i + 1);
            }
        }
    }

    /// <summary>Tokenizes a template.</summary>
    /// <exception cref="ChatTemplateException">An unclosed tag or string, or a character that starts no token.</exception>
    public static List<JinjaToken> Tokenize(string source)
    {
        var lexer = new JinjaLexer(source);
        lexer.Run();
        return lexer._tokens;
    }

    private void Run()
    {
        int position = 0;
        while (position < _source.Length)
        {
            int tag = NextTag(position);
            if (tag < 0)
            {
                AppendText(position, _source.Length);
                break;
            }

            AppendText(position, tag);
            char kind = _source[tag + 1];
            char leftControl = tag + 2 < _source.Length ? _source[tag + 2] : '\0';
            ApplyLeftControl(tag, kind, leftControl);
            int inner = tag + 2 + (leftControl is '-' or '+' ? 1 : 0);
            position = kind == '#' ? SkipComment(tag, inner) : LexTag(tag, inner, kind);
        }

        FlushText();
        var (line, column) = Where(_source.Length);
        _tokens.Add(new JinjaToken(JinjaTokenKind.End, string.Empty, line, column));
    }

    private int NextTag(int from)
    {
        for (int i = from; i + 1 < _source.Length; i++)
        {
            if (_source[i] == '{' && _source[i + 1] is '{' or '%' or '#')
            {
                return i;
            }
        }

        return -1;
    }

    private void AppendText(int start, int end)
    {
        if (end <= start)
        {
            return;
        }

        string text = _source[start..end];
        if (_stripNextText)
        {
            text = text.TrimStart();
            _stripNextText = false;
        }

        if (_text is null)
        {
            _text = new StringBuilder();
            _textStart = start;
        }

        _text.Append(text);
    }

    private void FlushText()
    {
        if (_text is { Length: > 0 })
        {
            var (line, column) = Where(_textStart);
            _tokens.Add(new JinjaToken(JinjaTokenKind.Text, _text.ToString(), line, column));
        }

        _text = null;
        _stripNextText = false;
    }

    private void ApplyLeftControl(int tag, char kind, char control)
    {
        if (_text is null)
        {
            return;
        }

        if (control == '-')
        {
            int keep = _text.Length;
            while (keep > 0 && char.IsWhiteSpace(_text[keep - 1]))
            {
                keep--;
            }

            _text.Length = keep;
        }
        else if (control != '+' && kind is '%' or '#')
        {
            // lstrip_blocks: only when nothing but spaces and tabs stands between the line start and the tag.
            int back = tag;
            while (back > 0 && _source[back - 1] is ' ' or '\t')
            {
                back--;
            }

            int run = tag - back;
            if ((back == 0 || _source[back - 1] == '\n') && run > 0 && run <= _text.Length)
            {
                _text.Length -= run;
            }
        }
    }

    private void ApplyRightControl(char kind, char control, ref int after)
    {
        if (control == '-')
        {
            _stripNextText = true;
        }
        else if (control != '+' && kind is '%' or '#')
        {
            // trim_blocks: the first newline after a block or comment tag.
            if (after < _source.Length && _source[after] == '\n')
            {
                after++;
            }
            else if (after + 1 < _source.Length && _source[after] == '\r' && _source[after + 1] == '\n')
            {
                after += 2;
            }
        }
    }

    private int SkipComment(int tag, int inner)
    {
        int close = _source.IndexOf("#}", inner, StringComparison.Ordinal);
        if (close < 0)
        {
            throw Error("unclosed comment '{#'", tag);
        }

        char control = close > inner && _source[close - 1] is '-' or '+' ? _source[close - 1] : '\0';
        int after = close + 2;
        ApplyRightControl('#', control, ref after);
        return after;
    }

    private int LexTag(int tag, int inner, char kind)
    {
        FlushText();
        var (line, column) = Where(tag);
        _tokens.Add(new JinjaToken(kind == '{' ? JinjaTokenKind.OutputStart : JinjaTokenKind.StatementStart, kind == '{' ? "{{" : "{%", line, column));
        string close = kind == '{' ? "}}" : "%}";
        int depth = 0, i = inner;
        while (true)
        {
            while (i < _source.Length && char.IsWhiteSpace(_source[i]))
            {
                i++;
            }

            if (i >= _source.Length)
            {
                throw Error($"unclosed tag '{(kind == '{' ? "{{" : "{%")}'", tag);
            }

            if (depth == 0 && (string.CompareOrdinal(_source, i, close, 0, 2) == 0 || (_source[i] is '-' or '+' && string.CompareOrdinal(_source, i + 1, close, 0, 2) == 0)))
            {
                char control = _source[i] is '-' or '+' ? _source[i] : '\0';
                int after = i + 2 + (control == '\0' ? 0 : 1);
                (line, column) = Where(i);
                _tokens.Add(new JinjaToken(kind == '{' ? JinjaTokenKind.OutputEnd : JinjaTokenKind.StatementEnd, close, line, column));
                ApplyRightControl(kind, control, ref after);
                return after;
            }

            i = LexExpressionToken(i, ref depth);
        }
    }

    private (int Line, int Column) Where(int offset)
    {
        int index = _lineStarts.BinarySearch(offset);
        int line = index >= 0 ? index : ~index - 1;
        return (line + 1, offset - _lineStarts[line] + 1);
    }

    private ChatTemplateException Error(string message, int offset)
    {
        var (line, column) = Where(offset);
        return new ChatTemplateException(message, line, column);
    }
}
