using System.Text.Json;
using Json.Schema;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Grammar;

namespace LmHead.Extensions.Tests.Decoding.Grammar;

/// <summary>
/// Thousands of seeded generations under random schemas from the supported subset, each output validated by an
/// independent JSON Schema validator (JsonSchema.Net), and the mask checked never to be empty while the text is
/// incomplete.
/// </summary>
[TestClass]
public sealed class GrammarPropertyTests
{
    private const int MaxSteps = 400;

    /// <summary>
    /// Random logits with a per-generation bias towards a few structural bytes, so random walks close their strings
    /// and arrays in a few hundred steps instead of wandering (the mask alone decides what is allowed).
    /// </summary>
    private static (string? Text, int Steps) Generate(OutputConstraint constraint, Random random)
    {
        var vocabulary = SmallVocabulary.Shared;
        var stage = new GrammarConstraint(CompiledGrammar.For(constraint), vocabulary);
        var generated = new List<int>();
        var history = new TokenHistory([], generated);
        var bias = new float[vocabulary.Count];
        foreach (char favoured in "\"]},0123456789eE-.")
        {
            bias[favoured] = random.Next(2) == 0 ? 4f : 2f;
        }

        bias[vocabulary.EndOfTextTokenId!.Value] = 6f;
        var row = new float[vocabulary.Count];
        for (int step = 0; step < MaxSteps; step++)
        {
            if (stage.IsComplete(history))
            {
                break;
            }

            for (int i = 0; i < row.Length; i++)
            {
                row[i] = (float)(random.NextDouble() * 3) + bias[i];
            }

            stage.MaskRow(row, history);
            int allowed = row.Count(v => !float.IsNegativeInfinity(v));
            Assert.IsGreaterThan(0, allowed, $"a dead end after {System.Text.Encoding.UTF8.GetString([.. generated.SelectMany(t => vocabulary.BytesOf(t).ToArray())])}");
            int token = Sample(row, random);
            if (token == vocabulary.EndOfTextTokenId)
            {
                Assert.IsTrue(stage.Accepts(history), "end of text only where the text may end");
                break;
            }

            generated.Add(token);
        }

        if (!stage.Accepts(history))
        {
            return (null, generated.Count);
        }

        return (System.Text.Encoding.UTF8.GetString([.. generated.SelectMany(t => vocabulary.BytesOf(t).ToArray())]), generated.Count);
    }

    private static int Sample(float[] row, Random random)
    {
        float max = row.Max();
        double total = row.Sum(v => Math.Exp(v - max));
        double u = random.NextDouble() * total;
        for (int i = 0; i < row.Length; i++)
        {
            u -= Math.Exp(row[i] - max);
            if (u <= 0 && !float.IsNegativeInfinity(row[i]))
            {
                return i;
            }
        }

        return Array.FindLastIndex(row, v => !float.IsNegativeInfinity(v));
    }

    [TestMethod]
    public void GenerationsUnderRandomSchemasAlwaysValidate()
    {
        var random = new Random(2026);
        var schemas = new RandomSchemas(random);
        int completed = 0, total = 0;
        for (int s = 0; s < 100; s++)
        {
            string schemaText = schemas.Next().ToJsonString();
            var validator = JsonSchema.FromText(schemaText);
            var constraint = OutputConstraint.JsonSchema(schemaText, random.Next(3));
            for (int g = 0; g < 20; g++)
            {
                total++;
                var (text, _) = Generate(constraint, random);
                if (text is null)
                {
                    continue;
                }

                completed++;
                using var document = JsonDocument.Parse(text);
                var result = validator.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
                Assert.IsTrue(result.IsValid, $"{text}\nagainst {schemaText}\n{JsonSerializer.Serialize(result)}");
            }
        }

        Assert.IsGreaterThan(total * 9 / 10, completed, $"{completed} of {total} generations completed within {MaxSteps} tokens");
    }

    [TestMethod]
    public void GenerationsUnderRandomNumericBoundsStayInRange()
    {
        var random = new Random(4242);
        var schemas = new RandomSchemas(random);
        int completed = 0, total = 0;
        for (int s = 0; s < 150; s++)
        {
            var schema = random.Next(2) == 0 ? schemas.IntegerSchema() : schemas.NumberSchema();
            string schemaText = schema.ToJsonString();
            var validator = JsonSchema.FromText(schemaText);
            var constraint = OutputConstraint.JsonSchema(schemaText);
            for (int g = 0; g < 10; g++)
            {
                total++;
                var (text, _) = Generate(constraint, random);
                if (text is null)
                {
                    continue;
                }

                completed++;
                using var document = JsonDocument.Parse(text);
                var result = validator.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
                Assert.IsTrue(result.IsValid, $"{text}\nagainst {schemaText}\n{JsonSerializer.Serialize(result)}");

                // Independently of the validator: the value, read as a decimal, is within the bounds, and an integer
                // schema without bounds on a side stays within a 32-bit int there (64-bit when the other side is wider).
                if (schema.Count == 1 && (string?)schema["type"] == "number")
                {
                    continue; // unbounded: any JSON number, exponents included (validated above)
                }

                decimal value = decimal.Parse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture);
                Assert.IsTrue(InBounds(schema, value), $"{text} against {schemaText}");
                if ((string?)schema["type"] == "integer")
                {
                    Assert.AreEqual(decimal.Truncate(value), value, text);
                    Assert.IsTrue(value is >= long.MinValue and <= long.MaxValue, text);
                    bool wide = schema.Where(p => p.Key != "type").Select(p => p.Value).OfType<System.Text.Json.Nodes.JsonValue>().Any(v => v.GetValue<decimal>() is < int.MinValue or > int.MaxValue);
                    Assert.IsTrue(wide || value is >= int.MinValue and <= int.MaxValue, $"{text} against {schemaText}");
                }
            }
        }

        Assert.IsGreaterThan(total * 9 / 10, completed, $"{completed} of {total} generations completed within {MaxSteps} tokens");
    }

    private static bool InBounds(System.Text.Json.Nodes.JsonObject schema, decimal value)
    {
        decimal? Get(string keyword) => schema[keyword] is { } node ? node.GetValue<decimal>() : null;
        return !(Get("minimum") is { } min && value < min) && !(Get("maximum") is { } max && value > max)
            && !(Get("exclusiveMinimum") is { } emin && value <= emin) && !(Get("exclusiveMaximum") is { } emax && value >= emax);
    }

    [TestMethod]
    public void GenerationsOfAnyJsonAlwaysParse()
    {
        var random = new Random(7);
        int completed = 0;
        for (int g = 0; g < 1000; g++)
        {
            var (text, _) = Generate(OutputConstraint.Json(random.Next(3)), random);
            if (text is not null)
            {
                completed++;
                using var document = JsonDocument.Parse(text);
            }
        }

        Assert.IsGreaterThan(900, completed);
    }

    [TestMethod]
    public void GenerationsUnderRegexesAlwaysMatch()
    {
        var random = new Random(11);
        foreach (string pattern in new[] { @"\d{3}-\d{4}", @"(yes|no|maybe)", @"[a-f0-9]{8}", @"[A-Z][a-z]{0,6}( [A-Z][a-z]{0,6})?", @"é+中?" })
        {
            var regex = new System.Text.RegularExpressions.Regex($@"\A(?:{pattern})\z");
            for (int g = 0; g < 100; g++)
            {
                var (text, _) = Generate(OutputConstraint.Regex(pattern), random);
                Assert.IsNotNull(text, pattern);
                Assert.IsTrue(regex.IsMatch(text), $"'{text}' against {pattern}");
            }
        }
    }
}
