using LmHead.Extensions.Decoding.Grammar;

namespace LmHead.Extensions.Tests.Decoding.Grammar;

[TestClass]
public sealed class JsonGrammarCompilerTests
{
    private static CompiledGrammar Schema(string schema, int whitespace = 1) => CompiledGrammar.Compile(OutputConstraint.JsonSchema(schema, whitespace));

    [TestMethod]
    [DataRow("{}")]
    [DataRow("[]")]
    [DataRow("{\"a\": [1, -2.5, 3E+10, true, false, null, \"x\\\"y\\\\z\\n\"]}")]
    [DataRow("\"h\u00e9llo \u4e2d \U0001F600\"")]
    [DataRow("0")]
    [DataRow("-0.25")]
    [DataRow("[[[[{}]]]]")]
    public void AnyJsonAcceptsValidJson(string text) =>
        Assert.IsTrue(CompiledGrammar.Compile(OutputConstraint.Json()).Accepts(text), text);

    [TestMethod]
    [DataRow("")]
    [DataRow("{")]
    [DataRow("[1,]")]
    [DataRow("01")]
    [DataRow("{\"a\" 1}")]
    [DataRow("tru")]
    [DataRow("\"a\nb\"")]
    [DataRow("[1]  ")]
    [DataRow("{\"a\":  1}")]
    [DataRow("1.")]
    [DataRow("\"\\x\"")]
    public void AnyJsonRejectsInvalidJsonAndExtraWhitespace(string text) =>
        Assert.IsFalse(CompiledGrammar.Compile(OutputConstraint.Json()).Accepts(text), text);

    [TestMethod]
    public void WhitespaceIsBoundedByThePolicy()
    {
        var none = CompiledGrammar.Compile(OutputConstraint.Json(0));
        var two = CompiledGrammar.Compile(OutputConstraint.Json(2));
        Assert.IsTrue(none.Accepts("{\"a\":1}"));
        Assert.IsFalse(none.Accepts("{\"a\": 1}"));
        Assert.IsTrue(two.Accepts("{\n \"a\":  1\n}"));
        Assert.IsFalse(two.Accepts("{\"a\":   1}"));
    }

    [TestMethod]
    public void ObjectPropertiesFollowTheSchemaOrderWithOptionalOnesSkippable()
    {
        var grammar = Schema("""{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"},"c":{"type":"boolean"}},"required":["b"],"additionalProperties":false}""");
        Assert.IsTrue(grammar.Accepts("{\"b\":\"x\"}"));
        Assert.IsTrue(grammar.Accepts("{\"a\":1, \"b\":\"x\", \"c\":true}"));
        Assert.IsTrue(grammar.Accepts("{\"b\":\"\",\"c\":false}"));
        Assert.IsFalse(grammar.Accepts("{}"), "b is required");
        Assert.IsFalse(grammar.Accepts("{\"a\":1}"), "b is required");
        Assert.IsFalse(grammar.Accepts("{,\"b\":\"x\"}"));
        Assert.IsFalse(grammar.Accepts("{\"b\":\"x\",\"d\":1}"), "no property beyond the schema's");
        Assert.IsFalse(grammar.Accepts("{\"a\":1.5,\"b\":\"x\"}"), "a is an integer");
    }

    [TestMethod]
    public void StringLengthsEnumsAndConstsAreExact()
    {
        var lengths = Schema("""{"type":"string","minLength":2,"maxLength":3}""");
        Assert.IsFalse(lengths.Accepts("\"a\""));
        Assert.IsTrue(lengths.Accepts("\"\u00e9\u4e2d\""), "two characters, five bytes");
        Assert.IsTrue(lengths.Accepts("\"a\\nb\""), "an escape is one character");
        Assert.IsFalse(lengths.Accepts("\"abcd\""));
        var choice = Schema("""{"enum":["red", 2, null, {"k":[true]}]}""");
        foreach (string ok in new[] { "\"red\"", "2", "null", "{\"k\":[true]}" })
        {
            Assert.IsTrue(choice.Accepts(ok), ok);
        }

        Assert.IsFalse(choice.Accepts("\"blue\""));
        Assert.IsTrue(Schema("""{"const":"x"}""").Accepts("\"x\""));
        Assert.IsFalse(Schema("""{"const":"x"}""").Accepts("\"y\""));
    }

    [TestMethod]
    public void IntegerBoundsAreExactAcrossDigitCounts()
    {
        var grammar = Schema("""{"type":"integer","minimum":-12,"maximum":305}""");
        for (int value = -200; value <= 2000; value++)
        {
            bool inside = value is >= -12 and <= 305;
            Assert.AreEqual(inside, grammar.Accepts(value.ToString(System.Globalization.CultureInfo.InvariantCulture)), $"{value}");
        }

        Assert.IsFalse(grammar.Accepts("-0"));
        Assert.IsFalse(grammar.Accepts("007"));
        var exclusive = Schema("""{"type":"integer","exclusiveMinimum":0,"exclusiveMaximum":10}""");
        Assert.IsFalse(exclusive.Accepts("0"));
        Assert.IsTrue(exclusive.Accepts("1"));
        Assert.IsTrue(exclusive.Accepts("9"));
        Assert.IsFalse(exclusive.Accepts("10"));
    }

    [TestMethod]
    public void ArraysRespectItemCounts()
    {
        var grammar = Schema("""{"type":"array","items":{"type":"boolean"},"minItems":1,"maxItems":3}""");
        Assert.IsFalse(grammar.Accepts("[]"));
        Assert.IsTrue(grammar.Accepts("[true]"));
        Assert.IsTrue(grammar.Accepts("[true, false,true]"));
        Assert.IsFalse(grammar.Accepts("[true,true,true,true]"));
        Assert.IsFalse(grammar.Accepts("[1]"));
    }

    [TestMethod]
    public void AnyOfNullableTypesAndRecursiveReferencesWork()
    {
        var grammar = Schema("""
            {"$defs":{"Node":{"type":"object","properties":{"value":{"type":["integer","null"]},"children":{"type":"array","items":{"$ref":"#/$defs/Node"}}},"required":["value"]}},
             "anyOf":[{"$ref":"#/$defs/Node"},{"type":"string","pattern":"^[a-c]+$"}]}
            """);
        Assert.IsTrue(grammar.Accepts("{\"value\":null}"));
        Assert.IsTrue(grammar.Accepts("{\"value\":1,\"children\":[{\"value\":2,\"children\":[{\"value\":null}]}]}"));
        Assert.IsTrue(grammar.Accepts("\"abcab\""));
        Assert.IsFalse(grammar.Accepts("\"abd\""));
        Assert.IsFalse(grammar.Accepts("{\"children\":[]}"));
    }

    [TestMethod]
    public void UnanchoredPatternsMatchAnywhereInTheString()
    {
        var grammar = Schema("""{"type":"string","pattern":"[0-9]{2}"}""");
        Assert.IsTrue(grammar.Accepts("\"ab12cd\""));
        Assert.IsFalse(grammar.Accepts("\"ab1cd\""));
    }

    [TestMethod]
    public void AnnotationsAreIgnored() =>
        Assert.IsTrue(Schema("""{"title":"T","description":"d","type":"boolean","default":true,"$schema":"https://json-schema.org/draft/2020-12/schema"}""").Accepts("true"));

    [TestMethod]
    [DataRow("""{"type":"object","properties":{"a":{"type":"string","format2":"x"}}}""", "#/properties/a/format2")]
    [DataRow("""{"type":"array","prefixItems":[]}""", "#/prefixItems")]
    [DataRow("""{"type":"number","minimum":2,"maximum":1}""", "#")]
    [DataRow("""{"type":"string","minLength":3,"maxLength":2}""", "#/maxLength")]
    [DataRow("""{"$ref":"#/$defs/Missing"}""", "#/$ref")]
    [DataRow("""{"type":"date"}""", "#/type")]
    [DataRow("""{"type":"array","uniqueItems":true}""", "#/uniqueItems")]
    public void UnsupportedSchemasNameTheKeywordAndItsPath(string schema, string path)
    {
        var error = Assert.ThrowsExactly<ArgumentException>(() => Schema(schema));
        Assert.AreEqual("constraint", error.ParamName);
        StringAssert.Contains(error.Message, path);
    }

    [TestMethod]
    public void InvalidJsonSchemaTextIsRejected() =>
        Assert.ThrowsExactly<ArgumentException>(() => Schema("{\"type\":"));

    [TestMethod]
    public void CompiledGrammarsAreCachedByConstraint()
    {
        string schema = """{"type":"object","properties":{"cached":{"type":"integer"}}}""";
        Assert.AreSame(CompiledGrammar.For(OutputConstraint.JsonSchema(schema)), CompiledGrammar.For(OutputConstraint.JsonSchema(schema)));
        Assert.AreNotSame(CompiledGrammar.For(OutputConstraint.JsonSchema(schema)), CompiledGrammar.For(OutputConstraint.JsonSchema(schema, 0)));
    }
}
