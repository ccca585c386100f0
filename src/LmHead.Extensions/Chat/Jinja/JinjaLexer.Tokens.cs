using System.Globalization;
using System.Text;

namespace LmHead.Extensions.Chat.Jinja;

/// <content>The tokens inside a tag: strings, numbers, names and operators.</content>
internal sealed partial class JinjaLexer
{
    private int LexExpressionToken(int i, ref int depth)
    {
        var (line, column) = Where(i);
        char c = _source[i];
        if (c is '\'' or '"')
        {
            return LexString(i, line, column);
        }

        if (char.IsAsciiDigit(c))
        {
            int end = i;
            while (end < _source.Length && char.IsAsciiDigit(_source[end]))
            {
                end++;
            }

            bool isFloat = end + 1 < _source.Length && _source[end] == '.' && char.IsAsciiDigit(_source[end + 1]);
            if (isFloat)
            {
                end++;
                while (end < _source.Length && char.IsAsciiDigit(_source[end]))
                {
                    end++;
                }
            }

            if (end < _source.Length && _source[end] is 'e' or 'E')
            {
                int exponent = end + 1;
                if (exponent < _source.Length && _source[exponent] is '+' or '-')
                {
                    exponent++;
                }

                if (exponent < _source.Length && char.IsAsciiDigit(_source[exponent]))
                {
                    isFloat = true;
                    end = exponent;
                    while (end < _source.Length && char.IsAsciiDigit(_source[end]))
                    {
                        end++;
                    }
                }
            }

            _tokens.Add(new JinjaToken(isFloat ? JinjaTokenKind.Float : JinjaTokenKind.Integer, _source[i..end], line, column));
            return end;
        }

        if (char.IsAsciiLetter(c) || c == '_')
        {
            int end = i;
            while (end < _source.Length && (char.IsAsciiLetterOrDigit(_source[end]) || _source[end] == '_'))
            {
                end++;
            }

            _tokens.Add(new JinjaToken(JinjaTokenKind.Name, _source[i..end], line, column));
            return end;
        }

        foreach (string op in LongOperators)
        {
            if (string.CompareOrdinal(_source, i, op, 0, op.Length) == 0)
            {
                _tokens.Add(new JinjaToken(JinjaTokenKind.Operator, op, line, column));
                return i + op.Length;
            }
        }

        if (ShortOperators.Contains(c, StringComparison.Ordinal))
        {
            depth += c is '(' or '[' or '{' ? 1 : c is ')' or ']' or '}' ? -1 : 0;
            _tokens.Add(new JinjaToken(JinjaTokenKind.Operator, c.ToString(), line, column));
            return i + 1;
        }

        throw Error($"unexpected character '{c}'", i);
    }

    private int LexString(int start, int line, int column)
    {
        char quote = _source[start];
        var value = new StringBuilder();
        int i = start + 1;
        while (i < _source.Length && _source[i] != quote)
        {
            char c = _source[i];
            if (c == '\\' && i + 1 < _source.Length)
            {
                char e = _source[i + 1];
                i += 2;
                switch (e)
                {
                    case 'n': value.Append('\n'); break;
                    case 't': value.Append('\t'); break;
                    case 'r': value.Append('\r'); break;
                    case '0': value.Append('\0'); break;
                    case 'u' when i + 4 <= _source.Length && int.TryParse(_source.AsSpan(i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int code):
                        value.Append((char)code);
                        i += 4;
                        break;
                    case '\\' or '\'' or '"': value.Append(e); break;
                    case '\n': break;
                    default: value.Append('\\').Append(e); break;
                }

                continue;
            }

            value.Append(c);
            i++;
        }

        if (i >= _source.Length)
        {
            throw Error("unclosed string literal", start);
        }

        _tokens.Add(new JinjaToken(JinjaTokenKind.String, value.ToString(), line, column));
        return i + 1;
    }
}
