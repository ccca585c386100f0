using LmHead.Extensions.Generation;
using System.Text.Json;
using LmHead.Extensions.SemanticKernel.Settings;
using Microsoft.SemanticKernel;

namespace LmHead.Extensions.SemanticKernel.Tests.Settings;

[TestClass]
public sealed class LmHeadPromptExecutionSettingsTests
{
    private static LmHeadPromptExecutionSettings Everything() => new(new GenerationOptions
    {
        MaxNewTokens = 9, StopSequences = ["."], IncludeLogProbabilities = true, TopLogProbabilities = 2, IncludeRawLogProbabilities = true, AllowSpecialTokensInPrompt = true, ContextOverflow = ContextOverflow.SlidingWindow,
        OutputConstraint = LmHead.Extensions.Decoding.Grammar.OutputConstraint.JsonSchema("""{"type":"integer"}"""),
        Decoding = new()
        {
            Temperature = 0.5f, TopK = 7, Seed = 3, TopP = 0.9f, MinP = 0.05f, RepetitionPenalty = 1.1f, FrequencyPenalty = 0.2f, PresencePenalty = 0.1f,
            PenaltyWindow = 16, Greedy = true, LogitBias = new Dictionary<int, float> { [50256] = float.NegativeInfinity },
        },
    });

    [TestMethod]
    public void SerializesWithSnakeCaseNamesAndOmitsUnsetValues()
    {
        var settings = Everything();

        string json = JsonSerializer.Serialize(settings);
        string empty = JsonSerializer.Serialize(new LmHeadPromptExecutionSettings());

        foreach (string name in LmHeadSettingNames.All)
        {
            Assert.Contains($"\"{name}\"", json);
            Assert.DoesNotContain($"\"{name}\"", empty);
        }

        var back = JsonSerializer.Deserialize<LmHeadPromptExecutionSettings>(json)!;
        Assert.AreEqual(7, back.Options.Decoding.TopK);
        Assert.AreEqual(ContextOverflow.SlidingWindow, back.Options.ContextOverflow);
        Assert.AreEqual(settings.Options.OutputConstraint, back.Options.OutputConstraint);
        Assert.AreEqual(".", back.Options.StopSequences.Single());
        Assert.AreEqual(0.9f, back.Options.Decoding.TopP);
        Assert.AreEqual(float.NegativeInfinity, back.Options.Decoding.LogitBias[50256]);
        Assert.AreEqual(json, JsonSerializer.Serialize(back));
    }

    [TestMethod]
    public void ReadsTheDecodingControlsFromPromptJsonAndMapsThemToGenerationOptions()
    {
        var config = Microsoft.SemanticKernel.PromptTemplateConfig.FromJson("""
            { "template": "x", "execution_settings": { "default": {
                "top_p": 0.8, "min_p": "0.05", "repetition_penalty": 1.2, "frequency_penalty": 0.5, "presence_penalty": -0.25,
                "logit_bias": { "50256": -100, "11": 2.5 } } } }
            """);
        var settings = LmHeadPromptExecutionSettings.FromExecutionSettings(config.ExecutionSettings["default"]);
        var options = settings.ToGenerationOptions().Decoding;

        Assert.AreEqual(0.8f, options.TopP);
        Assert.AreEqual(0.05f, options.MinP);
        Assert.AreEqual(1.2f, options.RepetitionPenalty);
        Assert.AreEqual(0.5f, options.FrequencyPenalty);
        Assert.AreEqual(-0.25f, options.PresencePenalty);
        Assert.IsTrue(float.IsNegativeInfinity(options.LogitBias[50256]), "-100 bans, as in OpenAI's API");
        Assert.AreEqual(2.5f, options.LogitBias[11]);
    }

    [TestMethod]
    public void FrozenSettingsRejectEverySetter()
    {
        var settings = new LmHeadPromptExecutionSettings(new GenerationOptions { StopSequences = ["a"] });
        settings.Freeze();

        Assert.ThrowsExactly<InvalidOperationException>(() => settings.Options = new GenerationOptions());
        Assert.ThrowsExactly<InvalidOperationException>(() => settings.ModelId = "x");
        Assert.ThrowsExactly<NotSupportedException>(() => ((IList<string>)settings.Options.StopSequences).Add("b"));
    }

    [TestMethod]
    public void CloneCopiesEverythingIntoAnUnfrozenIndependentInstance()
    {
        var settings = Everything();
        settings.ModelId = "m";
        settings.ServiceId = "s";
        settings.ExtensionData = new Dictionary<string, object> { ["seed"] = 4 };
        settings.Freeze();

        var clone = (LmHeadPromptExecutionSettings)settings.Clone();
        clone.ExtensionData!["top_k"] = 1;
        clone.Options = new GenerationOptions();

        Assert.IsFalse(clone.IsFrozen);
        Assert.AreEqual("m", clone.ModelId);
        Assert.AreEqual("s", clone.ServiceId);
        Assert.AreEqual(Everything().Options, settings.Options);
        Assert.HasCount(1, settings.ExtensionData!);
    }

    [TestMethod]
    public void FromExecutionSettingsReadsEveryValueTypePromptFilesProduce()
    {
        using var json = JsonDocument.Parse("""{ "temperature": 0.25, "top_k": 5, "stop_sequences": ["x", "y"], "logprobs": true }""");
        var settings = new PromptExecutionSettings
        {
            ModelId = "m",
            ExtensionData = new Dictionary<string, object>
            {
                ["temperature"] = json.RootElement.GetProperty("temperature"),
                ["TOP_K"] = json.RootElement.GetProperty("top_k"),
                ["max_tokens"] = 12.0,
                ["seed"] = "42",
                ["stop_sequences"] = json.RootElement.GetProperty("stop_sequences"),
                ["logprobs"] = json.RootElement.GetProperty("logprobs"),
                ["top_logprobs"] = 3L,
                ["model_id"] = "ignored-by-us",
            },
        };

        var read = LmHeadPromptExecutionSettings.FromExecutionSettings(settings);
        var options = read.ToGenerationOptions();

        Assert.AreEqual(0.25f, options.Decoding.Temperature);
        Assert.AreEqual(5, options.Decoding.TopK);
        Assert.AreEqual(12, options.MaxNewTokens);
        CollectionAssert.AreEqual(new List<string> { "x", "y" }, options.StopSequences.ToList());
        Assert.AreEqual(3, options.TopLogProbabilities);
        Assert.AreEqual("m", read.ModelId);
        Assert.AreEqual(42UL, options.Decoding.Seed);
        Assert.IsTrue(options.IncludeLogProbabilities);
    }

    [TestMethod]
    public void TopKZeroKeepsAllTokensAndUnsetKeepsTheDefault()
    {
        var zero = new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["top_k"] = 0 } };
        Assert.IsNull(LmHeadPromptExecutionSettings.FromExecutionSettings(zero).ToGenerationOptions().Decoding.TopK);
        Assert.AreEqual(new GenerationOptions().Decoding.TopK, new LmHeadPromptExecutionSettings().ToGenerationOptions().Decoding.TopK);
    }

    [TestMethod]
    public void HarmlessOpenAiKeysAreRejectedByDefaultAndSkippedOnRequest()
    {
        var shared = new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["user"] = "alice", ["n"] = 1, ["temperature"] = 0.3 } };

        var strict = Assert.Throws<ArgumentException>(() => LmHeadPromptExecutionSettings.FromExecutionSettings(shared));
        var lenient = LmHeadPromptExecutionSettings.FromExecutionSettings(shared, ignoreHarmlessOpenAiSettings: true);
        var two = new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["n"] = 2 } };

        Assert.AreEqual("user", strict.ParamName);
        Assert.AreEqual(0.3f, lenient.Options.Decoding.Temperature);
        Assert.Contains("'n'", Assert.Throws<ArgumentException>(() => LmHeadPromptExecutionSettings.FromExecutionSettings(two, ignoreHarmlessOpenAiSettings: true)).Message);
        var typo = new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["temprature"] = 0.3 } };
        Assert.AreEqual("temprature", Assert.Throws<ArgumentException>(() => LmHeadPromptExecutionSettings.FromExecutionSettings(typo, ignoreHarmlessOpenAiSettings: true)).ParamName);
    }

    [TestMethod]
    [DataRow("temperature", "warm")]
    [DataRow("temperature", -1.0)]
    [DataRow("top_k", 2.5)]
    [DataRow("max_tokens", 0)]
    [DataRow("seed", -4L)]
    [DataRow("top_logprobs", 21)]
    [DataRow("logprobs", 3)]
    [DataRow("stop_sequences", 5)]
    [DataRow("typical_p", 0.9)]
    [DataRow("top_p", 0.0)]
    [DataRow("top_p", 1.5)]
    [DataRow("min_p", -0.1)]
    [DataRow("repetition_penalty", 0.0)]
    [DataRow("frequency_penalty", "lots")]
    [DataRow("logit_bias", "x")]
    public void InvalidOrUnknownValueIsAnArgumentExceptionNamingTheSetting(string name, object value)
    {
        var settings = new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { [name] = value } };

        var error = Assert.Throws<ArgumentException>(() => LmHeadPromptExecutionSettings.FromExecutionSettings(settings));

        Assert.Contains(name, error.Message);
    }

    [TestMethod]
    public void UnknownTypedValueIsAnError()
    {
        var settings = new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["temperature"] = new Uri("http://x") } };

        var error = Assert.Throws<ArgumentException>(() => LmHeadPromptExecutionSettings.FromExecutionSettings(settings));

        Assert.Contains("temperature", error.Message);
        Assert.Contains("Uri", error.Message);
    }

    [TestMethod]
    public void FromExecutionSettingsNeverChangesItsArgument()
    {
        var stops = new List<string> { "a" };
        var typed = new LmHeadPromptExecutionSettings(new GenerationOptions { StopSequences = stops }) { ExtensionData = new Dictionary<string, object> { ["seed"] = 1 } };
        typed.Freeze();

        var read = LmHeadPromptExecutionSettings.FromExecutionSettings(typed);
        read.Options = read.Options with { StopSequences = ["a", "b"] };

        Assert.AreNotSame(typed, read);
        Assert.AreEqual(1UL, read.Options.Decoding.Seed);
        Assert.IsNull(typed.Options.Decoding.Seed);
        Assert.AreEqual(1, typed.Options.StopSequences.Count);
        Assert.AreEqual("a", stops.Single());
    }
}
