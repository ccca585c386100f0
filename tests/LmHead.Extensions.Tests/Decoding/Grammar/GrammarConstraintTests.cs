using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Grammar;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Decoding.Grammar;

[TestClass]
public sealed class GrammarConstraintTests
{
    private static GrammarConstraint Constraint(OutputConstraint constraint) => new(CompiledGrammar.For(constraint), SmallVocabulary.Shared);

    private static byte[] Concat(IEnumerable<int> ids) => [.. ids.SelectMany(id => SmallVocabulary.Shared.BytesOf(id).ToArray())];

    /// <summary>The independent reference: a token is allowed iff the bytes so far plus its bytes are a prefix of some sentence.</summary>
    private static bool[] ReferenceMask(CompiledGrammar grammar, byte[] prefix)
    {
        var vocabulary = SmallVocabulary.Shared;
        var allowed = new bool[vocabulary.Count];
        var runtime = grammar.Runtime;
        var state = runtime.Advance(runtime.Start, prefix);
        for (int id = 0; id < vocabulary.Count; id++)
        {
            if (id == vocabulary.EndOfTextTokenId)
            {
                allowed[id] = state.Accepting;
                continue;
            }

            var bytes = vocabulary.BytesOf(id);
            if (bytes.IsEmpty)
            {
                continue;
            }

            // Byte by byte from the start, so the check shares nothing with the precomputed tables.
            var s = state;
            bool ok = true;
            for (int i = 0; i < bytes.Length && ok; i++)
            {
                ok = !s.CannotContinue;
                s = runtime.Advance(s, bytes[i]);
                ok &= !s.IsDead;
            }

            allowed[id] = ok;
        }

        return allowed;
    }

    [TestMethod]
    [DataRow("""{"type":"object","properties":{"name":{"type":"string"},"n":{"type":"integer"}},"required":["name"]}""", "{\"name\": \"\u00e9\u4e2d\U0001F600\", \"n\": 12}")]
    [DataRow(null, "[{\"a\":[true, null]},{\"e\":\"\u4e2d\"}]")]
    public void MaskMatchesAByteByByteReferenceAtEveryPrefix(string? schema, string sentence)
    {
        var constraint = schema is null ? OutputConstraint.Json() : OutputConstraint.JsonSchema(schema);
        var grammar = CompiledGrammar.For(constraint);
        var stage = Constraint(constraint);
        Assert.IsTrue(grammar.Accepts(sentence));
        byte[] text = System.Text.Encoding.UTF8.GetBytes(sentence);
        var generated = new List<int>();
        var history = new TokenHistory([], generated);
        for (int at = 0; at <= text.Length; at++)
        {
            ulong[] mask = stage.AllowedTokens(history);
            bool[] expected = ReferenceMask(grammar, text[..at]);
            for (int id = 0; id < expected.Length; id++)
            {
                Assert.AreEqual(expected[id], (mask[id >> 6] & (1UL << id)) != 0, $"token {id} after {at} bytes");
            }

            if (at < text.Length)
            {
                generated.Add(text[at]); // single-byte tokens have the byte's id: the text is fed one byte at a time
            }
        }

        Assert.IsTrue(stage.Accepts(history));
        Assert.IsTrue(stage.IsComplete(history), "a closed JSON value allows nothing more");
    }

    [TestMethod]
    public void CharactersSplitAcrossTokensAreAllowedOnlyAsAWhole()
    {
        var stage = Constraint(OutputConstraint.JsonSchema("""{"enum":["é", "中"]}"""));
        int quoteLead = SmallVocabulary.IdOf([(byte)'"', 0xC3]);
        int tailQuote = SmallVocabulary.IdOf([0xA9, (byte)'"']);
        int chineseHead = SmallVocabulary.IdOf([0xE4, 0xB8]);
        var generated = new List<int>();
        var history = new TokenHistory([], generated);
        ulong[] Allowed() => stage.AllowedTokens(history);
        bool Has(ulong[] m, int id) => (m[id >> 6] & (1UL << id)) != 0;

        var start = Allowed();
        Assert.IsTrue(Has(start, quoteLead), "\" + the first byte of é");
        Assert.IsTrue(Has(start, '"'));
        Assert.IsFalse(Has(start, chineseHead), "no quote yet");
        generated.Add(quoteLead);
        var afterLead = Allowed();
        Assert.IsTrue(Has(afterLead, tailQuote), "the rest of é and the closing quote");
        Assert.IsTrue(Has(afterLead, 0xA9));
        Assert.IsFalse(Has(afterLead, 0xAD), "0xC3 0xAD is í, not in the enum");
        Assert.AreEqual(2, TokenMaskTables.CountAllowed(afterLead));
        generated.Add(tailQuote);
        Assert.IsTrue(stage.IsComplete(history));
        var end = Allowed();
        Assert.AreEqual(1, TokenMaskTables.CountAllowed(end));
        Assert.IsTrue(Has(end, SmallVocabulary.EndOfText));
    }

    [TestMethod]
    public void EndOfTextIsAllowedOnlyWhereTheTextMayEnd()
    {
        var stage = Constraint(OutputConstraint.JsonSchema("""{"type":"integer"}"""));
        var generated = new List<int> { '1' };
        var history = new TokenHistory([], generated);
        var mask = stage.AllowedTokens(history);
        Assert.IsTrue((mask[SmallVocabulary.EndOfText >> 6] & (1UL << SmallVocabulary.EndOfText)) != 0, "12 may end here");
        Assert.IsFalse(stage.IsComplete(history), "more digits may follow");
        generated.Clear();
        generated.Add('-');
        mask = stage.AllowedTokens(history);
        Assert.IsTrue((mask[SmallVocabulary.EndOfText >> 6] & (1UL << SmallVocabulary.EndOfText)) == 0, "'-' alone is not a number");
    }

    [TestMethod]
    public void TensorPathAndRowMaskAgreeAndLeaveTheInputUntouched()
    {
        var stage = Constraint(OutputConstraint.Json());
        var history = new TokenHistory([], new List<int> { '{' });
        var random = new Random(3);
        float[] values = [.. Enumerable.Range(0, SmallVocabulary.Size + 5).Select(_ => (float)random.NextDouble())];
        using var logits = tensor(values);
        using var masked = stage.Apply(logits, history);
        float[] fromTensor = masked.data<float>().ToArray();
        float[] row = (float[])values.Clone();
        stage.MaskRow(row, history);
        CollectionAssert.AreEqual(row, fromTensor);
        CollectionAssert.AreEqual(values, logits.data<float>().ToArray(), "the input is not modified");
        Assert.IsTrue(float.IsNegativeInfinity(row[SmallVocabulary.Size + 2]), "ids beyond the vocabulary are masked");
        Assert.IsFalse(float.IsNegativeInfinity(row['"']), "a key may start");
        Assert.IsFalse(float.IsNegativeInfinity(row['}']), "the object may close");
        Assert.IsTrue(float.IsNegativeInfinity(row['a']), "a bare letter may not follow {");
    }

    [TestMethod]
    public void ATokenOutsideTheGrammarInTheHistoryIsReported()
    {
        var stage = Constraint(OutputConstraint.Json());
        var error = Assert.ThrowsExactly<ArgumentException>(() => stage.AllowedTokens(new TokenHistory([], new List<int> { 'x' })));
        Assert.AreEqual("history", error.ParamName);
        StringAssert.Contains(error.Message, "120");
    }

    [TestMethod]
    [DataRow(ScalarType.Float32)]
    [DataRow(ScalarType.Float16)]
    [DataRow(ScalarType.BFloat16)]
    public void FastPathAndTensorPathChooseTheSameConstrainedTokens(ScalarType dtype)
    {
        var grammar = OutputConstraint.JsonSchema("""{"type":"object","properties":{"name":{"type":"string","maxLength":4},"ok":{"type":"boolean"}},"required":["name","ok"]}""");
        foreach (bool fast in new[] { true, false })
        {
            var generated = new List<int>();
            var history = new TokenHistory([], generated);
            var stage = Constraint(grammar);
            var pipeline = new DecodingPipelineBuilder(new DecodingOptions { Temperature = 0.8f, TopK = 40, Seed = 11 }).UseGrammarConstraint(stage).Build();
            pipeline.UseCpuFastPath = fast;
            var random = new Random(21);
            for (int step = 0; step < 60 && !stage.IsComplete(history); step++)
            {
                using var values = tensor(Enumerable.Range(0, SmallVocabulary.Size).Select(_ => (float)(random.NextDouble() * 4)).ToArray());
                using var logits = values.to_type(dtype);
                generated.Add(pipeline.NextToken(logits, history: history).TokenId);
            }

            Assert.IsTrue(stage.IsComplete(history), $"fast = {fast}");
            string text = System.Text.Encoding.UTF8.GetString(Concat(generated));
            using var document = System.Text.Json.JsonDocument.Parse(text);
            Assert.AreEqual(2, document.RootElement.EnumerateObject().Count(), text);
            _results[fast] = text;
        }

        Assert.AreEqual(_results[true], _results[false], $"{dtype}: the same draws give the same text on both paths");
        _results.Clear();
    }

    private readonly Dictionary<bool, string> _results = [];
}
