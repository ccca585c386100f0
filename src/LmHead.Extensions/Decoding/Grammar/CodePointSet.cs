namespace LmHead.Extensions.Decoding.Grammar;

/// <summary>
/// A set of Unicode scalar values as sorted, disjoint inclusive ranges, and its UTF-8 form as a byte-level
/// <see cref="Fragment"/> (the range splitting of RE2 / Rust's utf8-ranges: each piece is a sequence of byte ranges).
/// </summary>
internal sealed class CodePointSet
{
    /// <summary>The largest Unicode scalar value.</summary>
    public const int MaxCodePoint = 0x10FFFF;

    private readonly List<(int Low, int High)> _ranges;

    private CodePointSet(List<(int Low, int High)> ranges) => _ranges = ranges;

    /// <summary>The sorted, disjoint ranges (surrogates never included).</summary>
    public IReadOnlyList<(int Low, int High)> Ranges => _ranges;

    /// <summary>Whether the set is empty.</summary>
    public bool IsEmpty => _ranges.Count == 0;

    /// <summary>The set of the given ranges (in any order, overlapping or not); surrogates are removed.</summary>
    public static CodePointSet Of(IEnumerable<(int Low, int High)> ranges)
    {
        var sorted = ranges.Where(r => r.Low <= r.High).OrderBy(r => r.Low).ToList();
        var merged = new List<(int Low, int High)>();
        foreach (var (low, high) in sorted)
        {
            if (merged.Count > 0 && low <= merged[^1].High + 1)
            {
                merged[^1] = (merged[^1].Low, Math.Max(merged[^1].High, high));
            }
            else
            {
                merged.Add((low, high));
            }
        }

        return new CodePointSet(merged).Except(new CodePointSet([(0xD800, 0xDFFF)]));
    }

    /// <summary>One code point.</summary>
    public static CodePointSet Single(int codePoint) => Of([(codePoint, codePoint)]);

    /// <summary>Every scalar value.</summary>
    public static CodePointSet All { get; } = Of([(0, MaxCodePoint)]);

    /// <summary>The union.</summary>
    public CodePointSet Union(CodePointSet other) => Of(_ranges.Concat(other._ranges));

    /// <summary>The scalar values of this set not in <paramref name="other"/>.</summary>
    public CodePointSet Except(CodePointSet other)
    {
        var result = new List<(int Low, int High)>();
        foreach (var (low, high) in _ranges)
        {
            int at = low;
            foreach (var (oLow, oHigh) in other._ranges)
            {
                if (oHigh < at || oLow > high)
                {
                    continue;
                }

                if (oLow > at)
                {
                    result.Add((at, oLow - 1));
                }

                at = Math.Max(at, oHigh + 1);
            }

            if (at <= high)
            {
                result.Add((at, high));
            }
        }

        return new CodePointSet(result);
    }

    /// <summary>Whether the set holds <paramref name="codePoint"/>.</summary>
    public bool Contains(int codePoint) => _ranges.Any(r => r.Low <= codePoint && codePoint <= r.High);

    /// <summary>The set's UTF-8 encodings as a fragment: one character.</summary>
    public Fragment ToUtf8()
    {
        var sequences = new List<(byte Low, byte High)[]>();
        foreach (var (low, high) in _ranges)
        {
            foreach (var (l, h) in new[] { (0, 0x7F), (0x80, 0x7FF), (0x800, 0xFFFF), (0x10000, MaxCodePoint) })
            {
                int a = Math.Max(low, l), b = Math.Min(high, h);
                if (a <= b)
                {
                    Split(a, b, sequences);
                }
            }
        }

        return Fragments.Choice([.. sequences.Select(s => Fragments.Sequence([.. s.Select(r => Fragments.Range(r.Low, r.High))]))]);
    }

    /// <summary>Splits a range whose ends have the same UTF-8 length until each piece is a product of byte ranges.</summary>
    private static void Split(int low, int high, List<(byte Low, byte High)[]> output)
    {
        int length = Utf8Length(low);
        for (int i = 1; i < length; i++)
        {
            int mask = (1 << (6 * i)) - 1;
            if ((low & ~mask) != (high & ~mask))
            {
                if ((low & mask) != 0)
                {
                    Split(low, low | mask, output);
                    Split((low | mask) + 1, high, output);
                    return;
                }

                if ((high & mask) != mask)
                {
                    Split(low, (high & ~mask) - 1, output);
                    Split(high & ~mask, high, output);
                    return;
                }
            }
        }

        byte[] a = Encode(low), b = Encode(high);
        var ranges = new (byte Low, byte High)[a.Length];
        for (int i = 0; i < a.Length; i++)
        {
            ranges[i] = (a[i], b[i]);
        }

        output.Add(ranges);
    }

    private static int Utf8Length(int codePoint) => codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;

    private static byte[] Encode(int codePoint) => System.Text.Encoding.UTF8.GetBytes(char.ConvertFromUtf32(codePoint));
}
