using System.Text;
using LmHead.Extensions.Decoding.Grammar;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LmHead.Extensions.Tests.MachineLearning;

public sealed class ConstrainedInput
{
    [VectorType(8)]
    public float[] Logits { get; set; } = [];

    public float[] Generated { get; set; } = [];
}

public sealed class ConstrainedOutput
{
    public float[] Masked { get; set; } = [];
}

public sealed class DrawnOutput
{
    public uint Token { get; set; }
}

[TestClass]
public sealed class OutputConstraintTransformerTests
{
    // Tokens 0-6 are byte strings (a two-byte "a1" among them); 7 is the end of text.
    private static readonly string[] Texts = ["a", "1", "2", "{", "}", "a1", "x"];
    private static readonly TokenVocabulary Vocabulary = new([.. Texts.Select(Encoding.UTF8.GetBytes), null], endOfTextTokenId: 7);
    private static readonly OutputConstraint Constraint = OutputConstraint.Regex(@"a[0-9]{1,2}|\{\}");

    private static ConstrainedInput Row(params int[] generated) => new()
    {
        Logits = [0.5f, -1f, 2f, 1f, 0f, 3f, 1.5f, -0.5f],
        Generated = [.. generated.Select(t => (float)t)],
    };

    [TestMethod]
    public void EachRowIsMaskedByTheGrammarStateOfItsOwnGeneratedTokens()
    {
        ConstrainedInput[] rows = [Row(), Row(0), Row(0, 1), Row(5, 2), Row(3), Row(3, 4)];
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(rows);
        var pipeline = ml.Transforms.ApplyOutputConstraint("Masked", "Logits", "Generated", Constraint, Vocabulary);
        var outputs = ml.Data.CreateEnumerable<ConstrainedOutput>(pipeline.Fit(data).Transform(data), reuseRowObject: false).ToList();
        var grammar = CompiledGrammar.For(Constraint);
        for (int r = 0; r < rows.Length; r++)
        {
            // Reference: a token is allowed when the text with it stays a prefix of the grammar; the end only where the text is whole.
            string text = string.Concat(rows[r].Generated.Select(t => Texts[(int)t]));
            for (int t = 0; t < Texts.Length; t++)
            {
                bool allowed = grammar.AcceptsPrefix(text + Texts[t]);
                Assert.AreEqual(allowed ? rows[r].Logits[t] : float.NegativeInfinity, outputs[r].Masked[t], $"row {r} ('{text}'), token '{Texts[t]}'");
            }

            Assert.AreEqual(grammar.Accepts(text) ? rows[r].Logits[7] : float.NegativeInfinity, outputs[r].Masked[7], $"row {r} ('{text}'), end of text");
        }
    }

    [TestMethod]
    public void DecodeNextTokenOnTheMaskedColumnDrawsOnlyAllowedTokens()
    {
        var rows = Enumerable.Range(0, 200).Select(i => Row(i % 3 == 0 ? [] : i % 3 == 1 ? [0] : [3])).ToArray();
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(rows);
        var pipeline = ml.Transforms.ApplyOutputConstraint("Masked", "Logits", "Generated", Constraint, Vocabulary)
            .Append(ml.Transforms.DecodeNextToken("Token", "Masked", new LmHead.Extensions.Decoding.DecodingOptions { Temperature = 2f, Seed = 3 }));
        var outputs = ml.Data.CreateEnumerable<DrawnOutput>(pipeline.Fit(data).Transform(data), reuseRowObject: false).ToList();
        var grammar = CompiledGrammar.For(Constraint);
        var drawn = new HashSet<(int, uint)>();
        for (int r = 0; r < rows.Length; r++)
        {
            string text = string.Concat(rows[r].Generated.Select(t => Texts[(int)t]));
            uint token = outputs[r].Token;
            Assert.IsTrue(token == 7 ? grammar.Accepts(text) : grammar.AcceptsPrefix(text + Texts[token]), $"row {r} ('{text}') drew {token}");
            drawn.Add((r % 3, token));
        }

        // Not one forced choice per state: after "" the tokens a, a1 and { are all allowed and drawn at temperature 2.
        Assert.IsGreaterThanOrEqualTo(3, drawn.Count(d => d.Item1 == 0));
    }

    [TestMethod]
    public void AGeneratedTokenOutsideTheGrammarIsAnErrorNamingIt()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(new[] { Row(6) });
        var transformed = ml.Transforms.ApplyOutputConstraint("Masked", "Logits", "Generated", Constraint, Vocabulary).Fit(data).Transform(data);
        var error = Assert.Throws<Exception>(() => ml.Data.CreateEnumerable<ConstrainedOutput>(transformed, reuseRowObject: false).ToList());
        StringAssert.Contains(error.ToString(), "token 6");
    }
}
