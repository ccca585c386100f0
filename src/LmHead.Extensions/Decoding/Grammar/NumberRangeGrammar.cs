using System.Globalization;
using static LmHead.Extensions.Decoding.Grammar.Fragments;

namespace LmHead.Extensions.Decoding.Grammar;

/// <summary>
/// The decimal numbers (an integer part, then an optional fraction; no exponent) whose value lies between two bounds,
/// each inclusive or exclusive, as a grammar: the integer part is split as in <see cref="IntegerRangeGrammar"/>, and at
/// an integer part equal to a bound's the fraction is compared with the bound's fraction digit by digit. No "-0" (a
/// negative number is below zero). A fraction has at most <see cref="JsonGrammarRules.MaxDigits"/> digits (or one more
/// than a bound's fraction, when that is longer), so a value strictly between two close bounds always exists.
/// </summary>
internal static class NumberRangeGrammar
{
    private static readonly decimal Largest = decimal.Parse(new string('9', JsonGrammarRules.MaxDigits), CultureInfo.InvariantCulture);

    /// <summary>One end of a range: a value and whether it belongs to the range.</summary>
    internal readonly record struct Bound(decimal Value, bool Inclusive);

    /// <summary>
    /// The numbers from <paramref name="low"/> to <paramref name="high"/>; an open end (<see langword="null"/>) stops
    /// below 10^<see cref="JsonGrammarRules.MaxDigits"/> in magnitude.
    /// </summary>
    /// <exception cref="ArgumentException">The range holds no number.</exception>
    public static Fragment Create(Bound? low, Bound? high, string where)
    {
        if (low is { } l && high is { } h && (l.Value > h.Value || (l.Value == h.Value && !(l.Inclusive && h.Inclusive))))
        {
            throw new ArgumentException($"The JSON schema is not supported at {where}: the number range is empty ({Describe(low, high)}).");
        }

        int digits = JsonGrammarRules.MaxDigits;
        foreach (var bound in new[] { low, high })
        {
            if (bound is { } b)
            {
                digits = Math.Max(digits, FractionDigits(Math.Abs(b.Value)).Length + 1);
            }
        }

        var parts = new List<Fragment>();

        // Values >= 0: from max(low, 0) to high.
        if (high is not { } top || top.Value > 0 || (top.Value == 0 && top.Inclusive))
        {
            var from = low is { } bottom && bottom.Value >= 0 ? bottom : new Bound(0, true);
            var to = high ?? new Bound(Largest + 1, false);
            if (NonNegative(from, to, digits) is { } positive)
            {
                parts.Add(positive);
            }
        }

        // Values < 0: '-' and a magnitude above max(-high, 0) (above 0 strictly: no "-0") and up to -low.
        if (low is not { } floor || floor.Value < 0)
        {
            var from = high is { } ceiling && ceiling.Value < 0 ? new Bound(-ceiling.Value, ceiling.Inclusive) : new Bound(0, false);
            var to = low is { } b ? new Bound(-b.Value, b.Inclusive) : new Bound(Largest + 1, false);
            if (NonNegative(from, to, digits) is { } magnitude)
            {
                parts.Add(Sequence(Byte((byte)'-'), magnitude));
            }
        }

        return parts.Count > 0 ? Choice([.. parts])
            : throw new ArgumentException($"The JSON schema is not supported at {where}: the number range holds no number of at most {digits} fraction digits ({Describe(low, high)}).");
    }

    private static string Describe(Bound? low, Bound? high) =>
        $"{(low is { } l ? (l.Inclusive ? "minimum " : "exclusiveMinimum ") + l.Value.ToString(CultureInfo.InvariantCulture) : "no minimum")}, "
        + $"{(high is { } h ? (h.Inclusive ? "maximum " : "exclusiveMaximum ") + h.Value.ToString(CultureInfo.InvariantCulture) : "no maximum")}";

    /// <summary>The digits after the point of <paramref name="value"/> (non-negative), without trailing zeros.</summary>
    private static string FractionDigits(decimal value)
    {
        string text = (value - Math.Floor(value)).ToString(CultureInfo.InvariantCulture);
        int point = text.IndexOf('.', StringComparison.Ordinal);
        return point < 0 ? "" : text[(point + 1)..].TrimEnd('0');
    }

    private static string IntegerDigits(decimal value) => Math.Floor(value).ToString("0", CultureInfo.InvariantCulture);

    /// <summary>Unsigned numbers from <paramref name="low"/> to <paramref name="high"/> (0 &lt;= low &lt;= high), or null when there is none.</summary>
    private static Fragment? NonNegative(Bound low, Bound high, int digits)
    {
        if (low.Value > high.Value || (low.Value == high.Value && !(low.Inclusive && high.Inclusive)))
        {
            return null;
        }

        decimal lowInteger = Math.Floor(low.Value), highInteger = Math.Floor(high.Value);
        string lowFraction = FractionDigits(low.Value), highFraction = FractionDigits(high.Value);
        var parts = new List<Fragment>();
        if (lowInteger == highInteger)
        {
            Add(parts, Literal(IntegerDigits(low.Value)), Fraction(Between(lowFraction, !low.Inclusive, highFraction, !high.Inclusive, digits)));
            return parts.Count > 0 ? Choice([.. parts]) : null;
        }

        Add(parts, Literal(IntegerDigits(low.Value)), Fraction(AtLeast(lowFraction, !low.Inclusive, digits)));
        if (lowInteger + 1 <= highInteger - 1)
        {
            parts.Add(Sequence(
                IntegerRangeGrammar.Create(lowInteger + 1, highInteger - 1, ""),
                Optional(Sequence(Byte((byte)'.'), Repeat(Range((byte)'0', (byte)'9'), 1, digits)))));
        }

        Add(parts, Literal(IntegerDigits(high.Value)), Fraction(AtMost(highFraction, !high.Inclusive, digits)));
        return parts.Count > 0 ? Choice([.. parts]) : null;
    }

    private static void Add(List<Fragment> parts, Fragment integer, Fragment? fraction)
    {
        if (fraction is not null)
        {
            parts.Add(Sequence(integer, fraction));
        }
    }

    /// <summary>
    /// The digit strings S of at most n digits that a comparison allows, as "whether the empty S is allowed" and the
    /// fragment of the non-empty ones (null: none). The value compared is 0.S.
    /// </summary>
    private readonly record struct Digits(bool EmptyAllowed, Fragment? NonEmpty);

    /// <summary>Nothing (the integer part alone) or '.' and a non-empty digit string; null when neither is allowed.</summary>
    private static Fragment? Fraction(Digits digits)
    {
        var parts = new List<Fragment>();
        if (digits.EmptyAllowed)
        {
            parts.Add(Empty);
        }

        if (digits.NonEmpty is { } rest)
        {
            parts.Add(Sequence(Byte((byte)'.'), rest));
        }

        return parts.Count > 0 ? Choice([.. parts]) : null;
    }

    /// <summary>Any S of 0 to n digits, or null when n is 0 and the empty S is not asked for.</summary>
    private static Fragment? Tail(Digits digits) =>
        digits.EmptyAllowed && digits.NonEmpty is { } rest ? Optional(rest)
        : digits.EmptyAllowed ? Empty
        : digits.NonEmpty;

    private static Fragment AnyDigits(int min, int max) => Repeat(Range((byte)'0', (byte)'9'), min, max);

    private static char Head(string bound) => bound.Length > 0 ? bound[0] : '0';

    private static string Rest(string bound) => bound.Length > 0 ? bound[1..] : "";

    /// <summary>0.S &gt;= 0.<paramref name="bound"/> (&gt; when <paramref name="strict"/>), S of at most <paramref name="n"/> digits.</summary>
    private static Digits AtLeast(string bound, bool strict, int n)
    {
        bool empty = bound.Length == 0 && !strict;
        if (n == 0)
        {
            return new Digits(empty, null);
        }

        if (bound.Length == 0 && !strict)
        {
            return new Digits(true, AnyDigits(1, n));
        }

        char head = Head(bound);
        var parts = new List<Fragment>();
        if (head < '9')
        {
            parts.Add(Sequence(Range((byte)(head + 1), (byte)'9'), AnyDigits(0, n - 1)));
        }

        if (Tail(AtLeast(Rest(bound), strict, n - 1)) is { } same)
        {
            parts.Add(Sequence(Byte((byte)head), same));
        }

        return new Digits(empty, parts.Count > 0 ? Choice([.. parts]) : null);
    }

    /// <summary>0.S &lt;= 0.<paramref name="bound"/> (&lt; when <paramref name="strict"/>), S of at most <paramref name="n"/> digits.</summary>
    private static Digits AtMost(string bound, bool strict, int n)
    {
        bool empty = bound.Length > 0 || !strict;
        if (n == 0 || (bound.Length == 0 && strict))
        {
            return new Digits(empty, null);
        }

        if (bound.Length == 0)
        {
            return new Digits(true, Repeat(Byte((byte)'0'), 1, n));
        }

        char head = Head(bound);
        var parts = new List<Fragment>();
        if (head > '0')
        {
            parts.Add(Sequence(Range((byte)'0', (byte)(head - 1)), AnyDigits(0, n - 1)));
        }

        if (Tail(AtMost(Rest(bound), strict, n - 1)) is { } same)
        {
            parts.Add(Sequence(Byte((byte)head), same));
        }

        return new Digits(empty, parts.Count > 0 ? Choice([.. parts]) : null);
    }

    /// <summary>0.<paramref name="low"/> &lt;(=) 0.S &lt;(=) 0.<paramref name="high"/>, S of at most <paramref name="n"/> digits (low &lt;= high).</summary>
    private static Digits Between(string low, bool lowStrict, string high, bool highStrict, int n)
    {
        bool empty = AtLeast(low, lowStrict, 0).EmptyAllowed && AtMost(high, highStrict, 0).EmptyAllowed;
        if (n == 0)
        {
            return new Digits(empty, null);
        }

        char a = Head(low), b = Head(high);
        var parts = new List<Fragment>();
        if (a == b)
        {
            if (Tail(Between(Rest(low), lowStrict, Rest(high), highStrict, n - 1)) is { } same)
            {
                parts.Add(Sequence(Byte((byte)a), same));
            }

            return new Digits(empty, parts.Count > 0 ? Choice([.. parts]) : null);
        }

        if (Tail(AtLeast(Rest(low), lowStrict, n - 1)) is { } first)
        {
            parts.Add(Sequence(Byte((byte)a), first));
        }

        if (a + 1 <= b - 1)
        {
            parts.Add(Sequence(Range((byte)(a + 1), (byte)(b - 1)), AnyDigits(0, n - 1)));
        }

        if (Tail(AtMost(Rest(high), highStrict, n - 1)) is { } last)
        {
            parts.Add(Sequence(Byte((byte)b), last));
        }

        return new Digits(empty, parts.Count > 0 ? Choice([.. parts]) : null);
    }
}
