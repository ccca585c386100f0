using LmHead.Extensions.Generation;

namespace LmHead.Extensions.Tests.Generation;

[TestClass]
public sealed class GenerationOptionsTests
{
    [TestMethod]
    public void RejectsOutOfRangeValuesNamingTheProperty()
    {
        Assert.AreEqual("MaxNewTokens", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new GenerationOptions { MaxNewTokens = 0 }).ParamName);
        Assert.AreEqual("Temperature", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new GenerationOptions { Decoding = new() { Temperature = -0.1f } }).ParamName);
        Assert.AreEqual("Temperature", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new GenerationOptions { Decoding = new() { Temperature = float.NaN } }).ParamName);
        Assert.AreEqual("TopK", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new GenerationOptions { Decoding = new() { TopK = -1 } }).ParamName);
        Assert.AreEqual("TopLogProbabilities", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new GenerationOptions { TopLogProbabilities = 21 }).ParamName);
        Assert.AreEqual("StopSequences", Assert.ThrowsExactly<ArgumentException>(() => new GenerationOptions { StopSequences = [""] }).ParamName);
    }

    [TestMethod]
    public void DefaultsAreTheSeedsDecodingDefaults()
    {
        var options = new GenerationOptions();

        Assert.AreEqual(0.7f, options.Decoding.Temperature);
        Assert.AreEqual(50, options.Decoding.TopK);
        Assert.AreEqual(64, options.MaxNewTokens);
        Assert.IsEmpty(options.StopSequences);
        Assert.IsNull(options.Decoding.Seed);
    }

    [TestMethod]
    public void ReadsTheFlatJsonFormIntoGenerationAndDecodingOptions()
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(
            """{"max_tokens": 12, "Temperature": "0.25", "top_k": 0, "top_p": 0.9, "seed": 7, "stop_sequences": ["\n"], "top_logprobs": 2, "logit_bias": {"5": -100, "6": 1.5}, "min_p": null}""")!.AsObject();

        var options = GenerationOptionsJson.Read(json);

        Assert.AreEqual(12, options.MaxNewTokens);
        Assert.AreEqual(0.25f, options.Decoding.Temperature);
        Assert.IsNull(options.Decoding.TopK, "top_k 0 keeps every token");
        Assert.AreEqual(0.9f, options.Decoding.TopP);
        Assert.IsNull(options.Decoding.MinP, "a null value keeps the default");
        Assert.AreEqual(7UL, options.Decoding.Seed);
        CollectionAssert.AreEqual(new[] { "\n" }, options.StopSequences.ToArray());
        Assert.IsTrue(options.IncludeLogProbabilities, "top_logprobs > 0 turns logprobs on");
        Assert.AreEqual(float.NegativeInfinity, options.Decoding.LogitBias[5], "-100 bans, as in OpenAI's API");
        Assert.AreEqual(1.5f, options.Decoding.LogitBias[6]);
        Assert.AreEqual(options, GenerationOptionsJson.Read(GenerationOptionsJson.Write(options)));
        Assert.AreEqual(GenerationOptionsJson.Write(options).ToJsonString(), GenerationOptionsJson.Write(GenerationOptionsJson.Read(GenerationOptionsJson.Write(options))).ToJsonString());
    }

    [TestMethod]
    public void FlatJsonRejectsUnknownKeysAndBadValuesByName()
    {
        var unknown = Assert.ThrowsExactly<ArgumentException>(() => GenerationOptionsJson.Read(new System.Text.Json.Nodes.JsonObject { ["typical_p"] = 0.5 }));
        Assert.AreEqual("typical_p", unknown.ParamName);
        Assert.Contains("temperature", unknown.Message);

        var range = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => GenerationOptionsJson.Read(new System.Text.Json.Nodes.JsonObject { ["temperature"] = -1 }));
        Assert.AreEqual("Temperature", range.ParamName);
        Assert.Contains("(temperature)", range.Message);

        var type = Assert.ThrowsExactly<ArgumentException>(() => GenerationOptionsJson.Read(new System.Text.Json.Nodes.JsonObject { ["top_k"] = "many" }));
        Assert.AreEqual("top_k", type.ParamName);

        var seed = Assert.ThrowsExactly<ArgumentException>(() => GenerationOptionsJson.Read(new System.Text.Json.Nodes.JsonObject { ["seed"] = -1 }));
        Assert.AreEqual("seed", seed.ParamName);
        Assert.Contains("from 0", seed.Message);
        Assert.Contains("-1", seed.Message);

        var oneStop = GenerationOptionsJson.Read(new System.Text.Json.Nodes.JsonObject { ["stop_sequences"] = "\n\n" });
        CollectionAssert.AreEqual(new[] { "\n\n" }, oneStop.StopSequences.ToArray(), "one string is one stop");

        var ignored = GenerationOptionsJson.Read(new System.Text.Json.Nodes.JsonObject { ["user"] = "me", ["top_k"] = 3 }, ignoredKeys: ["user"]);
        Assert.AreEqual(3, ignored.Decoding.TopK);
    }
}
