using System.Text.Json;
using LmHead.Extensions.SemanticKernel.Settings;
using Microsoft.SemanticKernel;

namespace LmHead.Extensions.SemanticKernel.Tests.Settings;

[TestClass]
public sealed class LmHeadPromptExecutionSettingsTests
{
    [TestMethod]
    public void SerializesWithSnakeCaseNamesAndOmitsUnsetValues()
    {
        var settings = new LmHeadPromptExecutionSettings
        {
            Temperature = 0.5f, TopK = 7, MaxTokens = 9, StopSequences = ["."], Seed = 3, LogProbabilities = true, TopLogProbabilities = 2,
            TopP = 0.9f, MinP = 0.05f, RepetitionPenalty = 1.1f, FrequencyPenalty = 0.2f, PresencePenalty = 0.1f,
            LogitBias = new Dictionary<int, float> { [50256] = -100f }, AllowSpecialTokens = true,
        };

        string json = JsonSerializer.Serialize(settings);
        string empty = JsonSerializer.Serialize(new LmHeadPromptExecutionSettings());

        foreach (string name in LmHeadSettingNames.All)
        {
            Assert.Contains($"\"{name}\"", json);
            Assert.DoesNotContain($"\"{name}\"", empty);
        }

        var back = JsonSerializer.Deserialize<LmHeadPromptExecutionSettings>(json)!;
        Assert.AreEqual(7, back.TopK);
        Assert.AreEqual(".", back.StopSequences!.Single());
        Assert.AreEqual(0.9f, back.TopP);
        Assert.AreEqual(-100f, back.LogitBias![50256]);
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
        var options = settings.ToGenerationOptions();

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
        var settings = new LmHeadPromptExecutionSettings { StopSequences = ["a"] };
        settings.Freeze();

        Assert.ThrowsExactly<InvalidOperationException>(() => settings.Temperature = 1);
        Assert.ThrowsExactly<InvalidOperationException>(() => settings.TopK = 1);
        Assert.ThrowsExactly<InvalidOperationException>(() => settings.MaxTokens = 1);
        Assert.ThrowsExactly<InvalidOperationException>(() => settings.StopSequences = []);
        Assert.ThrowsExactly<InvalidOperationException>(() => settings.Seed = 1);
        Assert.ThrowsExactly<InvalidOperationException>(() => settings.LogProbabilities = true);
        Assert.ThrowsExactly<InvalidOperationException>(() => settings.TopLogProbabilities = 1);
        Assert.ThrowsExactly<NotSupportedException>(() => settings.StopSequences!.Add("b"));
    }

    [TestMethod]
    public void CloneCopiesEverythingIntoAnUnfrozenIndependentInstance()
    {
        var settings = new LmHeadPromptExecutionSettings
        {
            ModelId = "m", ServiceId = "s", Temperature = 0.5f, TopK = 7, MaxTokens = 9, StopSequences = ["."], Seed = 3,
            LogProbabilities = true, TopLogProbabilities = 2, ExtensionData = new Dictionary<string, object> { ["seed"] = 4 },
        };
        settings.Freeze();

        var clone = (LmHeadPromptExecutionSettings)settings.Clone();
        clone.StopSequences!.Add("!");
        clone.ExtensionData!["top_k"] = 1;

        Assert.IsFalse(clone.IsFrozen);
        Assert.AreEqual(JsonSerializer.Serialize(settings), JsonSerializer.Serialize(new LmHeadPromptExecutionSettings
        {
            ModelId = clone.ModelId, ServiceId = clone.ServiceId, Temperature = clone.Temperature, TopK = clone.TopK, MaxTokens = clone.MaxTokens,
            StopSequences = ["."], Seed = clone.Seed, LogProbabilities = clone.LogProbabilities, TopLogProbabilities = clone.TopLogProbabilities,
            ExtensionData = new Dictionary<string, object> { ["seed"] = 4 },
        }));
        Assert.AreEqual(1, settings.StopSequences!.Count);
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

        Assert.AreEqual(0.25f, read.Temperature);
        Assert.AreEqual(5, read.TopK);
        Assert.AreEqual(12, read.MaxTokens);
        Assert.AreEqual(42L, read.Seed);
        CollectionAssert.AreEqual(new List<string> { "x", "y" }, read.StopSequences!.ToList());
        Assert.IsTrue(read.LogProbabilities);
        Assert.AreEqual(3, read.TopLogProbabilities);
        Assert.AreEqual("m", read.ModelId);
        Assert.AreEqual(42UL, options.Seed);
        Assert.IsTrue(options.IncludeLogProbabilities);
    }

    [TestMethod]
    public void TopKZeroKeepsAllTokensAndUnsetKeepsTheDefault()
    {
        Assert.IsNull(new LmHeadPromptExecutionSettings { TopK = 0 }.ToGenerationOptions().TopK);
        Assert.AreEqual(new Generation.GenerationOptions().TopK, new LmHeadPromptExecutionSettings().ToGenerationOptions().TopK);
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
        var typed = new LmHeadPromptExecutionSettings { StopSequences = stops, ExtensionData = new Dictionary<string, object> { ["seed"] = 1 } };
        typed.Freeze();

        var read = LmHeadPromptExecutionSettings.FromExecutionSettings(typed);
        read.StopSequences!.Add("b");

        Assert.AreNotSame(typed, read);
        Assert.AreEqual(1L, read.Seed);
        Assert.IsNull(typed.Seed);
        Assert.AreEqual(1, typed.StopSequences!.Count);
        Assert.AreEqual("a", stops.Single());
    }
}
