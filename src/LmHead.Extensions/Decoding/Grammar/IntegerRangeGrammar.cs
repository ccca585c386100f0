using static LmHead.Extensions.Decoding.Grammar.Fragments;

namespace LmHead.Extensions.Decoding.Grammar;

/// <summary>
/// The decimal integers in an inclusive range as a grammar (no leading zeros, no "-0"): the classic digit-by-digit
/// split of a range into pieces such as <c>1[5-9]|[2-8][0-9]|9[0-4]</c>. An open end stops at
/// <see cref="JsonGrammarRules.MaxDigits"/> digits.
/// </summary>
internal static class IntegerRangeGrammar
{
    private static readonly decimal Largest = decimal.Parse(new string('9', JsonGrammarRules.MaxDigits), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The integers from <paramref name="min"/> to <paramref name="max"/> (either may be open).</summary>
    /// <exception cref="ArgumentException">The range is empty.</exception>
    public static Fragment Create(decimal? min, decimal? max, string where)
    {
        decimal low = min ?? -Largest, high = max ?? Largest;
        if (low > high)
        {
            throw new ArgumentException($"The JSON schema is not supported at {where}: the integer range is empty (minimum {low} is above maximum {high}).");
        }

        var parts = new List<Fragment>();
        if (high >= 0)
        {
            parts.Add(NonNegative(Math.Max(low, 0), high));
        }

        if (low < 0)
        {
            parts.Add(Sequence(Byte((byte)'-'), NonNegative(Math.Max(1, -Math.Min(high, -1)), -low)));
        }

        return Choice([.. parts]);
    }

    private static Fragment NonNegative(decimal low, decimal high)
    {
        string a = low.ToString("0", System.Globalization.CultureInfo.InvariantCulture);
        string b = high.ToString("0", System.Globalization.CultureInfo.InvariantCulture);
        if (a.Length == b.Length)
        {
            return SameLength(a, b);
        }

        var parts = new List<Fragment> { SameLength(a, new string('9', a.Length)) };
        if (a.Length + 1 < b.Length)
        {
            // Every length strictly between, as one chain: a leading 1-9 and a.Length to b.Length - 2 more digits.
            parts.Add(Sequence(Range((byte)'1', (byte)'9'), Repeat(Range((byte)'0', (byte)'9'), a.Length, b.Length - 2)));
        }

        parts.Add(SameLength("1" + new string('0', b.Length - 1), b));
        return Choice([.. parts]);
    }

    /// <summary>The digit strings of one length from <paramref name="a"/> to <paramref name="b"/>.</summary>
    private static Fragment SameLength(string a, string b)
    {
        if (a.Length == 1)
        {
            return Range((byte)a[0], (byte)b[0]);
        }

        if (a[0] == b[0])
        {
            return Sequence(Byte((byte)a[0]), SameLength(a[1..], b[1..]));
        }

        // A side whose remaining digits are all 0 (low) or all 9 (high) needs no recursion: it joins the middle range.
        // Only the other sides recurse, each down one chain, so the grammar grows linearly with the length (splitting
        // both sides at every digit doubled it per digit).
        int rest = a.Length - 1;
        bool lowFull = a.AsSpan(1).TrimStart('0').IsEmpty, highFull = b.AsSpan(1).TrimStart('9').IsEmpty;
        var parts = new List<Fragment>();
        if (!lowFull)
        {
            parts.Add(Sequence(Byte((byte)a[0]), SameLength(a[1..], new string('9', rest))));
        }

        int low = lowFull ? a[0] : a[0] + 1, high = highFull ? b[0] : b[0] - 1;
        if (low <= high)
        {
            parts.Add(Sequence(Range((byte)low, (byte)high), Repeat(Range((byte)'0', (byte)'9'), rest, rest)));
        }

        if (!highFull)
        {
            parts.Add(Sequence(Byte((byte)b[0]), SameLength(new string('0', rest), b[1..])));
        }

        return Choice([.. parts]);
    }
}
