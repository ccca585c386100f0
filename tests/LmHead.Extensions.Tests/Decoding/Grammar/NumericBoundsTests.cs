using System.Globalization;
using LmHead.Extensions.Decoding.Grammar;

namespace LmHead.Extensions.Tests.Decoding.Grammar;

/// <summary>
/// Bounds on JSON Schema integers and numbers, checked exhaustively on small ranges: every short number string is
/// enumerated, and the grammar must accept it exactly when it is a well-formed JSON number (no exponent) whose value,
/// read as a decimal, lies in the range.
/// </summary>
[TestClass]
public sealed class NumericBoundsTests
{
    private static CompiledGrammar Schema(string schema) => CompiledGrammar.Compile(OutputConstraint.JsonSchema(schema));

    /// <summary>Every number text with up to <paramref name="integerMax"/> as integer part and 0 to <paramref name="fractionDigits"/> fraction digits, both signs ("-0" forms included).</summary>
    private static IEnumerable<string> ShortNumbers(int integerMax, int fractionDigits)
    {
        for (int integer = 0; integer <= integerMax; integer++)
        {
            foreach (string sign in new[] { "", "-" })
            {
                string head = sign + integer.ToString(CultureInfo.InvariantCulture);
                yield return head;
                for (int digits = 1; digits <= fractionDigits; digits++)
                {
                    int count = (int)Math.Pow(10, digits);
                    for (int f = 0; f < count; f++)
                    {
                        yield return head + "." + f.ToString(new string('0', digits), CultureInfo.InvariantCulture);
                    }
                }
            }
        }
    }

    private static void AssertExact(string schema, Func<decimal, bool> inRange, bool integer, int integerMax, int fractionDigits)
    {
        var grammar = Schema(schema);
        int accepted = 0;
        foreach (string text in ShortNumbers(integerMax, fractionDigits))
        {
            decimal value = decimal.Parse(text, CultureInfo.InvariantCulture);
            bool negativeZero = text.StartsWith('-') && value == 0;
            bool expected = inRange(value) && !negativeZero && (!integer || !text.Contains('.'));
            Assert.AreEqual(expected, grammar.Accepts(text), $"{text} under {schema}");
            accepted += expected ? 1 : 0;
        }

        Assert.IsGreaterThan(0, accepted, "the range holds enumerated values");
    }

    [TestMethod]
    public void IntegerRangesAreExact()
    {
        AssertExact("""{"type":"integer","minimum":-15,"maximum":7}""", v => v is >= -15 and <= 7, true, 1200, 0);
        AssertExact("""{"type":"integer","minimum":0,"maximum":100}""", v => v is >= 0 and <= 100, true, 1200, 0);
        AssertExact("""{"type":"integer","exclusiveMinimum":-3,"exclusiveMaximum":999}""", v => v is > -3 and < 999, true, 1200, 0);
        AssertExact("""{"type":"integer","minimum":-1000,"maximum":-10}""", v => v is >= -1000 and <= -10, true, 1200, 0);
        AssertExact("""{"type":"integer","minimum":1.5,"maximum":9.5}""", v => v is >= 1.5m and <= 9.5m, true, 1200, 0);
    }

    [TestMethod]
    public void NumberRangesAreExact()
    {
        AssertExact("""{"type":"number","minimum":1.5,"maximum":2.25}""", v => v is >= 1.5m and <= 2.25m, false, 12, 3);
        AssertExact("""{"type":"number","minimum":-15,"maximum":7}""", v => v is >= -15 and <= 7, false, 20, 2);
        AssertExact("""{"type":"number","minimum":0,"maximum":100}""", v => v is >= 0 and <= 100, false, 120, 2);
        AssertExact("""{"type":"number","exclusiveMinimum":-0.5,"exclusiveMaximum":0.75}""", v => v > -0.5m && v < 0.75m, false, 3, 3);
        AssertExact("""{"type":"number","exclusiveMinimum":1.25,"maximum":1.3}""", v => v > 1.25m && v <= 1.3m, false, 3, 3);
        AssertExact("""{"type":"number","minimum":-2.05,"exclusiveMaximum":-2}""", v => v >= -2.05m && v < -2, false, 3, 3);
        AssertExact("""{"type":"number","exclusiveMinimum":0}""", v => v > 0, false, 30, 2);
        AssertExact("""{"type":"number","maximum":-0.125}""", v => v <= -0.125m, false, 30, 3);
        AssertExact("""{"type":"number","minimum":3,"maximum":3}""", v => v == 3, false, 5, 3);
    }

    [TestMethod]
    public void BoundedNumbersHaveNoExponentAndNoNegativeZero()
    {
        var grammar = Schema("""{"type":"number","minimum":-1,"maximum":1}""");
        foreach (string text in new[] { "1E0", "1e-1", "-0", "-0.0", "01", "1.", ".5", "+1" })
        {
            Assert.IsFalse(grammar.Accepts(text), text);
        }

        Assert.IsTrue(grammar.Accepts("0.1234567890123456"), "sixteen fraction digits");
        Assert.IsFalse(grammar.Accepts("0.12345678901234567"), "seventeen fraction digits");
    }

    [TestMethod]
    public void ExclusiveBoundsCloserThanSixteenDigitsStillAdmitAValue()
    {
        var grammar = Schema("""{"type":"number","exclusiveMinimum":0.00000000000000000001,"exclusiveMaximum":0.00000000000000000002}""");
        Assert.IsTrue(grammar.Accepts("0.000000000000000000015"));
        Assert.IsFalse(grammar.Accepts("0.00000000000000000001"));
        Assert.IsFalse(grammar.Accepts("0.00000000000000000002"));
    }

    [TestMethod]
    public void UnboundedIntegersStayWithinAThirtyTwoBitInt()
    {
        var grammar = Schema("""{"type":"integer"}""");
        Assert.IsTrue(grammar.Accepts("2147483647"));
        Assert.IsTrue(grammar.Accepts("-2147483648"));
        Assert.IsTrue(grammar.Accepts("0"));
        Assert.IsFalse(grammar.Accepts("2147483648"));
        Assert.IsFalse(grammar.Accepts("-2147483649"));
        Assert.IsFalse(grammar.Accepts("9999999999"));
        var nonNegative = Schema("""{"type":"integer","minimum":0}""");
        Assert.IsTrue(nonNegative.Accepts("2147483647"));
        Assert.IsFalse(nonNegative.Accepts("2147483648"));
        Assert.IsFalse(nonNegative.Accepts("-1"));
    }

    [TestMethod]
    public void Int64FormatAndWideBoundsOpenTheSixtyFourBitRange()
    {
        var wide = Schema("""{"type":"integer","format":"int64"}""");
        Assert.IsTrue(wide.Accepts("9223372036854775807"));
        Assert.IsTrue(wide.Accepts("-9223372036854775808"));
        Assert.IsFalse(wide.Accepts("9223372036854775808"));
        Assert.IsFalse(wide.Accepts("-9223372036854775809"));
        var above = Schema("""{"type":"integer","minimum":3000000000}""");
        Assert.IsTrue(above.Accepts("9223372036854775807"));
        Assert.IsFalse(above.Accepts("2999999999"));
        Assert.IsFalse(above.Accepts("9223372036854775808"));
        var clipped = Schema("""{"type":"integer","format":"int32","minimum":-5000000000}""");
        Assert.IsTrue(clipped.Accepts("-2147483648"));
        Assert.IsFalse(clipped.Accepts("-2147483649"));
    }

    [TestMethod]
    public void RandomSixtyFourBitRangesAreExactAtAndAroundTheirEnds()
    {
        var random = new Random(64);
        for (int r = 0; r < 40; r++)
        {
            long a = random.NextInt64(long.MinValue, long.MaxValue), b = random.NextInt64(long.MinValue, long.MaxValue);
            long low = Math.Min(a, b), high = Math.Max(a, b);
            var grammar = Schema($$"""{"type":"integer","minimum":{{low}},"maximum":{{high}}}""");
            var probes = new List<System.Numerics.BigInteger>();
            foreach (long end in new[] { low, high })
            {
                for (int d = -2; d <= 2; d++)
                {
                    probes.Add(new System.Numerics.BigInteger(end) + d);
                }
            }

            for (int i = 0; i < 20; i++)
            {
                probes.Add(new System.Numerics.BigInteger(random.NextInt64(long.MinValue, long.MaxValue)));
            }

            foreach (var probe in probes)
            {
                bool inside = probe >= low && probe <= high;
                Assert.AreEqual(inside, grammar.Accepts(probe.ToString(CultureInfo.InvariantCulture)), $"{probe} in [{low}, {high}]");
            }
        }
    }

    [TestMethod]
    public void Draft4BooleanExclusiveBoundsAreRead()
    {
        var grammar = Schema("""{"type":"number","minimum":0,"exclusiveMinimum":true,"maximum":1,"exclusiveMaximum":true}""");
        Assert.IsFalse(grammar.Accepts("0"));
        Assert.IsTrue(grammar.Accepts("0.5"));
        Assert.IsFalse(grammar.Accepts("1"));
    }

    [TestMethod]
    [DataRow("""{"type":"number","minimum":2,"maximum":1}""", "#")]
    [DataRow("""{"type":"number","exclusiveMinimum":1,"maximum":1}""", "#")]
    [DataRow("""{"type":"integer","exclusiveMinimum":1,"exclusiveMaximum":2}""", "#")]
    [DataRow("""{"type":"object","properties":{"x":{"type":"number","minimum":"a"}}}""", "#/properties/x/minimum")]
    public void EmptyOrInvalidRangesNameThePath(string schema, string path)
    {
        var error = Assert.ThrowsExactly<ArgumentException>(() => Schema(schema));
        StringAssert.Contains(error.Message, path);
    }
}
