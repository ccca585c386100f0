using static LmHead.Extensions.Decoding.Grammar.Fragments;

namespace LmHead.Extensions.Decoding.Grammar;

/// <summary>
/// The pieces of JSON's own grammar (RFC 8259) as byte-level fragments and shared rules of one automaton: white space
/// (bounded), strings, numbers (bounded digit counts, so a model cannot loop forever), literals, and "any JSON value"
/// with its recursion through a rule call.
/// </summary>
internal sealed class JsonGrammarRules
{
    /// <summary>The most digits of an integer part, a fraction or an exponent that generation may write.</summary>
    public const int MaxDigits = 16;

    private static readonly CodePointSet Controls = CodePointSet.Of([(0, 0x1F)]);
    private readonly ByteAutomaton _automaton;
    private int? _anyValue, _anyString, _anyNumber;

    /// <summary>Creates the rules in <paramref name="automaton"/>.</summary>
    public JsonGrammarRules(ByteAutomaton automaton, int maxWhitespace)
    {
        _automaton = automaton;
        var space = Choice(Byte((byte)' '), Byte((byte)'\n'), Byte((byte)'\t'), Byte((byte)'\r'));
        Whitespace = maxWhitespace == 0 ? Empty : Repeat(space, 0, maxWhitespace);
    }

    /// <summary>Optional white space between tokens, at most the configured number of bytes.</summary>
    public Fragment Whitespace { get; }

    /// <summary>One character of a JSON string's content from <paramref name="set"/>, written raw or escaped.</summary>
    public static Fragment StringCharacter(CodePointSet set)
    {
        var parts = new List<Fragment>();
        var plain = set.Except(Controls).Except(CodePointSet.Of([('"', '"'), ('\\', '\\')]));
        if (!plain.IsEmpty)
        {
            parts.Add(plain.ToUtf8());
        }

        if (set.Contains('"'))
        {
            parts.Add(Literal("\\\""));
        }

        if (set.Contains('\\'))
        {
            parts.Add(Literal("\\\\"));
        }

        foreach (var (code, escape) in new[] { ('\n', "\\n"), ('\t', "\\t"), ('\r', "\\r"), ('\b', "\\b"), ('\f', "\\f") })
        {
            if (set.Contains(code))
            {
                parts.Add(Literal(escape));
            }
        }

        return Choice([.. parts]);
    }

    /// <summary>A whole string (quotes included) whose content has <paramref name="min"/> to <paramref name="max"/> characters.</summary>
    public Fragment String(int min = 0, int? max = null) =>
        min == 0 && max is null ? Call(_anyString ??= Rule(Sequence(Byte((byte)'"'), Star(StringCharacter(CodePointSet.All)), Byte((byte)'"'))))
        : Sequence(Byte((byte)'"'), Repeat(StringCharacter(CodePointSet.All), min, max), Byte((byte)'"'));

    /// <summary>Any JSON number (bounded digit counts).</summary>
    public Fragment Number() => Call(_anyNumber ??= Rule(Sequence(
        Optional(Byte((byte)'-')),
        UnsignedInteger(),
        Optional(Sequence(Byte((byte)'.'), Repeat(Range((byte)'0', (byte)'9'), 1, MaxDigits))),
        Optional(Sequence(Range((byte)'E', (byte)'E'), Optional(Choice(Byte((byte)'+'), Byte((byte)'-'))), Repeat(Range((byte)'0', (byte)'9'), 1, 3))))));

    /// <summary>0, or a digit 1-9 followed by at most <see cref="MaxDigits"/> - 1 digits.</summary>
    public static Fragment UnsignedInteger() =>
        Choice(Byte((byte)'0'), Sequence(Range((byte)'1', (byte)'9'), Repeat(Range((byte)'0', (byte)'9'), 0, MaxDigits - 1)));

    /// <summary>Any JSON value (objects, arrays, strings, numbers, true, false, null), nested through a rule call.</summary>
    public Fragment AnyValue()
    {
        if (_anyValue is null)
        {
            int rule = _automaton.AddRule();
            _anyValue = rule;
            var value = Call(rule);
            var member = Sequence(String(), Whitespace, Byte((byte)':'), Whitespace, value);
            _automaton.Emit(rule, Choice(
                Object(member),
                Array(value, 0, null),
                String(),
                Number(),
                Literal("true"),
                Literal("false"),
                Literal("null")));
        }

        return Call(_anyValue.Value);
    }

    /// <summary>An object of zero or more <paramref name="member"/>s.</summary>
    public Fragment Object(Fragment member) => Sequence(
        Byte((byte)'{'), Whitespace,
        Optional(Sequence(member, Star(Sequence(Whitespace, Byte((byte)','), Whitespace, member)), Whitespace)),
        Byte((byte)'}'));

    /// <summary>An array of <paramref name="min"/> to <paramref name="max"/> <paramref name="item"/>s.</summary>
    public Fragment Array(Fragment item, int min, int? max)
    {
        var next = Sequence(Whitespace, Byte((byte)','), Whitespace, item);
        var items = Sequence(item, Repeat(next, Math.Max(0, min - 1), max is null ? null : max - 1), Whitespace);
        if (max == 0)
        {
            return Sequence(Byte((byte)'['), Whitespace, Byte((byte)']'));
        }

        return Sequence(Byte((byte)'['), Whitespace, min == 0 ? Optional(items) : items, Byte((byte)']'));
    }

    /// <summary>A new rule of the automaton with <paramref name="body"/>.</summary>
    public int Rule(Fragment body)
    {
        int rule = _automaton.AddRule();
        _automaton.Emit(rule, body);
        return rule;
    }
}
