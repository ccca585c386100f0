using ComponentDescription = System.ComponentModel.DescriptionAttribute;
using System.Text.Json;
using System.Text.Json.Nodes;
using LmHead.Extensions.SemanticKernel.Services;
using Microsoft.Extensions.AI;

namespace LmHead.Extensions.SemanticKernel.Tests.Services;

[TestClass]
public sealed class ToolCallFormatTests
{
    [ComponentDescription("Gets the weather of a city")]
    private static string Weather([ComponentDescription("The city")] string city, int days = 1) => $"{city}: sunny for {days} days";

    private static string Time() => "noon";

    private static string Dose(int count, [System.ComponentModel.DataAnnotations.Range(0.5, 2.25)] double grams) => $"{count} x {grams} g";

    private static readonly AIFunction WeatherTool = AIFunctionFactory.Create(Weather, "get_weather");
    private static readonly AIFunction TimeTool = AIFunctionFactory.Create(Time, "get_time");

    [TestMethod]
    public void TheReplySchemaOffersEveryToolWithItsParametersAndAnAnswerUnlessACallIsRequired()
    {
        var schema = JsonNode.Parse(ToolCallFormat.ReplySchema([WeatherTool, TimeTool], callRequired: false))!.AsObject();
        var choices = schema["anyOf"]!.AsArray();

        Assert.HasCount(3, choices);
        Assert.AreEqual("get_weather", (string?)choices[0]!["properties"]!["tool"]!["const"]);
        var arguments = choices[0]!["properties"]!["arguments"]!;
        Assert.AreEqual("string", (string?)arguments["properties"]!["city"]!["type"]);
        CollectionAssert.AreEqual(new[] { "city" }, arguments["required"]!.AsArray().Select(n => (string?)n).ToArray());
        Assert.IsNull(arguments["$schema"], "Meta keywords are not constraints.");
        Assert.AreEqual("object", (string?)choices[1]!["properties"]!["arguments"]!["type"], "A function without parameters takes an empty object.");
        Assert.AreEqual("string", (string?)choices[2]!["properties"]!["answer"]!["type"]);

        var required = JsonNode.Parse(ToolCallFormat.ReplySchema([WeatherTool], callRequired: true))!["anyOf"]!.AsArray();
        Assert.HasCount(1, required);
    }

    [TestMethod]
    public void OfferedFunctionsFollowTheToolMode()
    {
        AITool[] tools = [WeatherTool, TimeTool];

        Assert.IsEmpty(ToolCallFormat.OfferedFunctions(tools, ChatToolMode.None));
        Assert.HasCount(2, ToolCallFormat.OfferedFunctions(tools, ChatToolMode.Auto));
        Assert.HasCount(2, ToolCallFormat.OfferedFunctions(tools, null));
        Assert.AreEqual("get_time", ToolCallFormat.OfferedFunctions(tools, ChatToolMode.RequireSpecific("get_time")).Single().Name);
        var missing = Assert.ThrowsExactly<NotSupportedException>(() => ToolCallFormat.OfferedFunctions(tools, ChatToolMode.RequireSpecific("nope")));
        StringAssert.Contains(missing.Message, "'nope'");
        var twice = Assert.ThrowsExactly<ArgumentException>(() => ToolCallFormat.OfferedFunctions([WeatherTool, WeatherTool], null));
        StringAssert.Contains(twice.Message, "get_weather");
    }

    [TestMethod]
    public void ACallReplyBecomesAFunctionCallWhoseArgumentsBindToTheFunction()
    {
        var content = ToolCallFormat.ParseReply("{\"tool\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"days\": 3}}", "call-1");

        var call = Assert.IsInstanceOfType<FunctionCallContent>(content);
        Assert.AreEqual("call-1", call.CallId);
        Assert.AreEqual("get_weather", call.Name);
        var result = WeatherTool.InvokeAsync(new AIFunctionArguments(call.Arguments!)).AsTask().GetAwaiter().GetResult();
        Assert.AreEqual("Oslo: sunny for 3 days", ((JsonElement)result!).GetString());
    }

    [TestMethod]
    public void AnAnswerReplyBecomesTextAndABrokenReplyIsAFormatError()
    {
        var answer = ToolCallFormat.ParseReply("{\"answer\": \"It is noon.\"}", "call-2");
        Assert.AreEqual("It is noon.", Assert.IsInstanceOfType<TextContent>(answer).Text);

        var cut = Assert.ThrowsExactly<FormatException>(() => ToolCallFormat.ParseReply("{\"tool\": \"get_weather\", \"argum", "c"));
        StringAssert.Contains(cut.Message, "not complete JSON");
        Assert.ThrowsExactly<FormatException>(() => ToolCallFormat.ParseReply("{\"other\": 1}", "c"));
    }

    [TestMethod]
    public void HistoryCallsAndResultsRenderInTheReplyShape()
    {
        var call = new FunctionCallContent("c1", "get_weather", new Dictionary<string, object?> { ["city"] = "Oslo" });
        string rendered = ToolCallFormat.RenderCall(call);
        var reparsed = Assert.IsInstanceOfType<FunctionCallContent>(ToolCallFormat.ParseReply(rendered, "c1"));
        Assert.AreEqual("Oslo", ((JsonElement)reparsed.Arguments!["city"]!).GetString());

        Assert.AreEqual("{\"tool\":\"get_weather\",\"result\":\"sunny\"}", ToolCallFormat.RenderResult("get_weather", new FunctionResultContent("c1", "sunny")));
        Assert.AreEqual("{\"result\":{\"t\":21}}", ToolCallFormat.RenderResult(null, new FunctionResultContent("c1", new Dictionary<string, int> { ["t"] = 21 })));
        StringAssert.Contains(ToolCallFormat.RenderResult("x", new FunctionResultContent("c1", null) { Exception = new InvalidOperationException("boom") }), "error: boom");
    }

    [TestMethod]
    public void IntParametersCannotOverflowAndRangeAttributesBoundNumbers()
    {
        // M.E.AI writes {"type":"integer"} for an int (no bounds, no format): the grammar keeps it within an int.
        var tool = AIFunctionFactory.Create(Dose, "dose");
        var grammar = LmHead.Extensions.Decoding.Grammar.CompiledGrammar.Compile(
            LmHead.Extensions.Decoding.Grammar.OutputConstraint.JsonSchema(ToolCallFormat.ReplySchema([tool], callRequired: true)));
        string Call(string count, string grams) => $"{{\"tool\": \"dose\", \"arguments\": {{\"count\": {count}, \"grams\": {grams}}}}}";
        Assert.IsTrue(grammar.Accepts(Call("2147483647", "2.25")));
        Assert.IsTrue(grammar.Accepts(Call("-2147483648", "0.5")));
        Assert.IsFalse(grammar.Accepts(Call("2147483648", "1")), "beyond int.MaxValue");
        Assert.IsFalse(grammar.Accepts(Call("1234567890123456", "1")), "sixteen digits");
        Assert.IsFalse(grammar.Accepts(Call("1", "2.26")), "above the Range attribute's maximum");
        Assert.IsFalse(grammar.Accepts(Call("1", "0.49")), "below its minimum");
        Assert.IsTrue(grammar.Accepts(Call("1", "1.125")));
    }
}
