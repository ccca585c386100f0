namespace LmHead.Extensions.Decoding.Grammar;

/// <summary>
/// Compiles a subset of .NET regular expressions into a byte-level <see cref="Fragment"/> that matches exactly the
/// strings the pattern matches whole (anchors implied): literals, escapes (<c>\d \w \s \D \W \S</c>, <c>\n \t \r \f \v</c>,
/// <c>\xHH \uHHHH</c>, escaped metacharacters), classes (<c>[a-z_]</c>, <c>[^...]</c>), <c>.</c> (any character but a
/// newline), alternation, groups (<c>( )</c>, <c>(?: )</c>, named <c>(?&lt;n&gt; )</c>), the quantifiers
/// <c>? * + {m} {m,} {m,n}</c> (lazy forms match the same strings), and <c>^</c> / <c>$</c> at the ends.
/// </summary>
/// <remarks>
/// <c>\d</c>, <c>\w</c> and <c>\s</c> generate their ASCII members (a subset of what .NET matches, so every output matches);
/// their negations are taken within ASCII for the same reason. Backreferences, lookarounds, other anchors and inline
/// options are rejected with the construct and its position.
/// </remarks>
internal sealed class RegexGrammarCompiler
{
    private static readonly CodePointSet Digits = CodePointSet.Of([('0', '9')]);
    private static readonly CodePointSet Word = CodePointSet.Of([('0', '9'), ('A', 'Z'), ('a', 'z'), ('_', '_')]);
    private static readonly CodePointSet Space = CodePointSet.Of([(' ', ' '), ('\t', '\r')]);
    private static readonly CodePointSet Ascii = CodePointSet.Of([(0, 0x7F)]);

    private readonly string _pattern;
    private readonly string _where;
    private readonly Func<CodePointSet, Fragment> _character;
    private int _at;

    private RegexGrammarCompiler(string pattern, string where, Func<CodePointSet, Fragment> character)
    {
        _pattern = pattern;
        _where = where;
        _character = character;
    }

    /// <summary>Compiles <paramref name="pattern"/> (whole-string match).</summary>
    /// <param name="pattern">The pattern.</param>
    /// <param name="where">Where the pattern came from, for messages (for example <c>pattern at #/properties/id</c>).</param>
    /// <param name="character">How one character of a set is written (UTF-8, or escaped inside a JSON string).</param>
    /// <exception cref="ArgumentException">The pattern is malformed or uses a construct outside the subset.</exception>
    public static Fragment Compile(string pattern, string where, Func<CodePointSet, Fragment> character)
    {
        var compiler = new RegexGrammarCompiler(pattern, where, character);
        if (compiler.Peek('^'))
        {
            compiler._at++;
        }

        var result = compiler.ParseAlternation();
        if (compiler._at < pattern.Length)
        {
            throw compiler.Error($"unexpected '{pattern[compiler._at]}'");
        }

        return result;
    }

    /// <summary>Compiles a JSON Schema <c>pattern</c>, which matches anywhere in the string unless anchored.</summary>
    public static Fragment CompileSearch(string pattern, string where, Func<CodePointSet, Fragment> character)
    {
        bool anchoredStart = pattern.StartsWith('^');
        bool anchoredEnd = pattern.EndsWith('$') && !pattern.EndsWith("\\$", StringComparison.Ordinal);
        string core = pattern[(anchoredStart ? 1 : 0)..(pattern.Length - (anchoredEnd ? 1 : 0))];
        var body = Compile(core, where, character);
        var any = Fragments.Star(character(CodePointSet.All));
        return Fragments.Sequence(anchoredStart ? Fragments.Empty : any, body, anchoredEnd ? Fragments.Empty : any);
    }

    private ArgumentException Error(string what) =>
        new($"The regular expression {_where} ('{_pattern}') is not supported at position {_at}: {what}. Supported: literals, classes, \\d \\w \\s, '.', '|', groups, ? * + {{m,n}}, ^ and $ at the ends.");

    private bool Peek(char c) => _at < _pattern.Length && _pattern[_at] == c;

    private Fragment ParseAlternation()
    {
        var branches = new List<Fragment> { ParseSequence() };
        while (Peek('|'))
        {
            _at++;
            branches.Add(ParseSequence());
        }

        return branches.Count == 1 ? branches[0] : Fragments.Choice([.. branches]);
    }

    private Fragment ParseSequence()
    {
        var parts = new List<Fragment>();
        while (_at < _pattern.Length && !Peek('|') && !Peek(')'))
        {
            if (Peek('$') && _at == _pattern.Length - 1)
            {
                _at++;
                break;
            }

            parts.Add(ParseQuantified(ParseAtom()));
        }

        return Fragments.Sequence([.. parts]);
    }

    private Fragment ParseQuantified(Fragment atom)
    {
        while (_at < _pattern.Length)
        {
            char c = _pattern[_at];
            int min, max;
            bool unbounded = false;
            if (c is '?' or '*' or '+')
            {
                _at++;
                (min, max, unbounded) = c == '?' ? (0, 1, false) : c == '*' ? (0, 0, true) : (1, 0, true);
            }
            else if (c == '{' && TryParseBraces(out min, out int? upper))
            {
                unbounded = upper is null;
                max = upper ?? 0;
            }
            else
            {
                return atom;
            }

            if (Peek('?'))
            {
                _at++;
            }

            if (!unbounded && max < min)
            {
                throw Error($"{{{min},{max}}} has its maximum below its minimum");
            }

            atom = Fragments.Repeat(atom, min, unbounded ? null : max);
        }

        return atom;
    }

    private bool TryParseBraces(out int min, out int? max)
    {
        var match = System.Text.RegularExpressions.Regex.Match(_pattern[_at..], @"^\{(\d+)(,(\d*))?\}");
        min = 0;
        max = null;
        if (!match.Success)
        {
            return false;
        }

        min = int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        max = !match.Groups[2].Success ? min : match.Groups[3].Value.Length == 0 ? null : int.Parse(match.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture);
        if (min > 10_000 || max > 10_000)
        {
            throw Error("a repeat count above 10000");
        }

        _at += match.Length;
        return true;
    }

    private Fragment ParseAtom()
    {
        char c = _pattern[_at];
        switch (c)
        {
            case '(':
                _at++;
                if (Peek('?'))
                {
                    if (_at + 1 < _pattern.Length && _pattern[_at + 1] == ':')
                    {
                        _at += 2;
                    }
                    else if (_at + 1 < _pattern.Length && _pattern[_at + 1] == '<' && _at + 2 < _pattern.Length && char.IsLetter(_pattern[_at + 2]))
                    {
                        int close = _pattern.IndexOf('>', _at);
                        _at = close < 0 ? throw Error("an unterminated group name") : close + 1;
                    }
                    else
                    {
                        throw Error("lookarounds and inline options '(?...)'");
                    }
                }

                var inner = ParseAlternation();
                if (!Peek(')'))
                {
                    throw Error("a missing ')'");
                }

                _at++;
                return inner;
            case '[':
                return _character(ParseClass());
            case '.':
                _at++;
                return _character(CodePointSet.All.Except(CodePointSet.Single('\n')));
            case '\\':
                return _character(ParseEscape(inClass: false));
            case '^' or '$':
                throw Error($"the anchor '{c}' inside the pattern");
            case ')' or '*' or '+' or '?' or '{' or '|':
                throw Error($"'{c}' with nothing to apply to");
            default:
                int codePoint = char.ConvertToUtf32(_pattern, _at);
                _at += char.IsSurrogatePair(_pattern, _at) ? 2 : 1;
                return _character(CodePointSet.Single(codePoint));
        }
    }

    private CodePointSet ParseClass()
    {
        _at++;
        bool negated = Peek('^');
        if (negated)
        {
            _at++;
        }

        var set = CodePointSet.Of([]);
        bool first = true;
        while (_at < _pattern.Length && (!Peek(']') || first))
        {
            first = false;
            CodePointSet item;
            int? single = null;
            if (Peek('\\'))
            {
                item = ParseEscape(inClass: true);
                if (item.Ranges.Count == 1 && item.Ranges[0].Low == item.Ranges[0].High)
                {
                    single = item.Ranges[0].Low;
                }
            }
            else
            {
                single = char.ConvertToUtf32(_pattern, _at);
                _at += char.IsSurrogatePair(_pattern, _at) ? 2 : 1;
                item = CodePointSet.Single(single.Value);
            }

            if (single is { } low && Peek('-') && _at + 1 < _pattern.Length && _pattern[_at + 1] != ']')
            {
                _at++;
                int high;
                if (Peek('\\'))
                {
                    var end = ParseEscape(inClass: true);
                    high = end.Ranges.Count == 1 && end.Ranges[0].Low == end.Ranges[0].High ? end.Ranges[0].Low : throw Error("a class range ending in a class escape");
                }
                else
                {
                    high = char.ConvertToUtf32(_pattern, _at);
                    _at += char.IsSurrogatePair(_pattern, _at) ? 2 : 1;
                }

                item = high >= low ? CodePointSet.Of([(low, high)]) : throw Error($"the reversed range {low}-{high}");
            }

            set = set.Union(item);
        }

        if (!Peek(']'))
        {
            throw Error("a missing ']'");
        }

        _at++;
        return negated ? CodePointSet.All.Except(set) : set;
    }

    private CodePointSet ParseEscape(bool inClass)
    {
        _at++;
        if (_at >= _pattern.Length)
        {
            throw Error("a trailing '\\'");
        }

        char c = _pattern[_at++];
        switch (c)
        {
            case 'd': return Digits;
            case 'w': return Word;
            case 's': return Space;
            case 'D': return Ascii.Except(Digits);
            case 'W': return Ascii.Except(Word);
            case 'S': return Ascii.Except(Space);
            case 'n': return CodePointSet.Single('\n');
            case 't': return CodePointSet.Single('\t');
            case 'r': return CodePointSet.Single('\r');
            case 'f': return CodePointSet.Single('\f');
            case 'v': return CodePointSet.Single('\v');
            case 'b' when inClass: return CodePointSet.Single('\b');
            case 'x': return CodePointSet.Single(ParseHex(2));
            case 'u': return CodePointSet.Single(ParseHex(4));
            default:
                if (char.IsLetterOrDigit(c))
                {
                    _at--;
                    throw Error($"the escape '\\{c}' (backreferences, word boundaries and Unicode categories are outside the subset)");
                }

                return CodePointSet.Single(c);
        }
    }

    private int ParseHex(int digits)
    {
        if (_at + digits > _pattern.Length || !int.TryParse(_pattern.AsSpan(_at, digits), System.Globalization.NumberStyles.HexNumber, null, out int value))
        {
            throw Error($"a hexadecimal escape needs {digits} hex digits");
        }

        _at += digits;
        return value;
    }
}
