using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Models.Llama;

/// <summary>config.json parsing and the errors of bad folders, each naming the key.</summary>
[TestClass]
public sealed class LlamaLoadingTests
{
    private const string Llama32OneB = """
        {"architectures":["LlamaForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"bos_token_id":128000,
         "eos_token_id":[128001,128008,128009],"head_dim":64,"hidden_act":"silu","hidden_size":2048,"initializer_range":0.02,
         "intermediate_size":8192,"max_position_embeddings":131072,"mlp_bias":false,"model_type":"llama","num_attention_heads":32,
         "num_hidden_layers":16,"num_key_value_heads":8,"pretraining_tp":1,"rms_norm_eps":1e-05,
         "rope_scaling":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,"original_max_position_embeddings":8192,"rope_type":"llama3"},
         "rope_theta":500000.0,"tie_word_embeddings":true,"torch_dtype":"bfloat16","transformers_version":"4.45.0.dev0","use_cache":true,"vocab_size":128256}
        """;

    private const string Qwen25HalfB = """
        {"architectures":["Qwen2ForCausalLM"],"attention_dropout":0.0,"bos_token_id":151643,"eos_token_id":151643,"hidden_act":"silu",
         "hidden_size":896,"initializer_range":0.02,"intermediate_size":4864,"max_position_embeddings":32768,"max_window_layers":24,
         "model_type":"qwen2","num_attention_heads":14,"num_hidden_layers":24,"num_key_value_heads":2,"rms_norm_eps":1e-06,
         "rope_theta":1000000.0,"sliding_window":32768,"tie_word_embeddings":true,"torch_dtype":"bfloat16","transformers_version":"4.40.1",
         "use_cache":true,"use_sliding_window":false,"vocab_size":151936}
        """;

    [TestMethod]
    public void ParsesLlama32Config()
    {
        var config = LlamaConfig.FromJson(Llama32OneB);
        Assert.AreEqual(("llama", 2048, 8192, 16, 32, 8, 64), (config.ModelType, config.HiddenSize, config.IntermediateSize, config.LayerCount, config.HeadCount, config.EffectiveKeyValueHeadCount, config.EffectiveHeadDim));
        Assert.AreEqual(new LlamaRopeScaling { RopeType = "llama3", Factor = 32, LowFrequencyFactor = 1, HighFrequencyFactor = 4, OriginalMaxPositions = 8192 }, config.RopeScaling);
        CollectionAssert.AreEqual(new[] { 128001, 128008, 128009 }, config.EosTokenIds.ToArray());
        Assert.AreEqual((128000, 500000.0, 1e-5, true, "bfloat16", 131072), (config.BosTokenId, config.RopeTheta, config.RmsNormEpsilon, config.TieWordEmbeddings, config.TorchDType, config.ContextLength));
    }

    [TestMethod]
    public void ParsesQwen25ConfigAndRoundTrips()
    {
        var config = LlamaConfig.FromJson(Qwen25HalfB);
        Assert.AreEqual(("qwen2", 896, 14, 2, 64, true, false), (config.ModelType, config.HiddenSize, config.HeadCount, config.EffectiveKeyValueHeadCount, config.EffectiveHeadDim, config.HasQkvBias, config.HasOutputBias));
        CollectionAssert.AreEqual(new[] { 151643 }, config.EosTokenIds.ToArray());
        Assert.AreEqual(32768, config.ContextLength, "use_sliding_window is false");
        var again = LlamaConfig.FromJson(config.ToJson());
        Assert.AreEqual(config with { EosTokenIds = [] }, again with { EosTokenIds = [] });
        CollectionAssert.AreEqual(config.EosTokenIds.ToArray(), again.EosTokenIds.ToArray());
    }

    [TestMethod]
    [DataRow("\"rope_scaling\":{\"factor\":32.0,\"high_freq_factor\":4.0", "\"rope_scaling\":{\"factor\":32.0,\"rope_type\":\"yarn\",\"high_freq_factor\":4.0", "rope_scaling.rope_type", "yarn")]
    [DataRow("\"hidden_act\":\"silu\"", "\"hidden_act\":\"gelu\"", "hidden_act", "gelu")]
    [DataRow("\"mlp_bias\":false", "\"mlp_bias\":true", "mlp_bias", "mlp_bias")]
    [DataRow("\"num_key_value_heads\":8", "\"num_key_value_heads\":5", "num_key_value_heads", "5")]
    [DataRow("\"eos_token_id\":[128001,128008,128009]", "\"eos_token_id\":[128001,\"x\"]", "eos_token_id", "\"x\"")]
    public void UnsupportedOrInvalidConfigNamesTheKey(string original, string replacement, string key, string valueInMessage)
    {
        string json = Llama32OneB.Replace(original, replacement, StringComparison.Ordinal);
        Assert.AreNotEqual(Llama32OneB, json, "the replacement must apply");
        if (key == "rope_scaling.rope_type")
        {
            json = json.Replace(",\"rope_type\":\"llama3\"", "", StringComparison.Ordinal);
        }

        var error = Assert.ThrowsExactly<ArgumentException>(() => LlamaConfig.FromJson(json));
        Assert.AreEqual(key, error.ParamName);
        StringAssert.Contains(error.Message, valueInMessage);
    }

    [TestMethod]
    public void UnknownModelTypeListsTheSupportedOnes()
    {
        string folder = TinyLlama.NewFolder();
        File.WriteAllText(Path.Combine(folder, "config.json"), "{\"model_type\":\"gpt_neox\",\"hidden_size\":8}");
        var error = Assert.ThrowsExactly<ModelFormatException>(() => PretrainedModel.Load(folder));
        Assert.AreEqual("model_type", error.Key);
        StringAssert.Contains(error.Message, "gpt_neox");
        StringAssert.Contains(error.Message, "gpt2, llama, qwen2, mistral");
    }

    [TestMethod]
    public void ReadsRopeParametersAsNewerTransformersReleasesWriteThem()
    {
        const string Scaling = "\"rope_scaling\":{\"factor\":32.0,\"high_freq_factor\":4.0,\"low_freq_factor\":1.0,\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"},";
        const string Parameters = "\"rope_parameters\":{\"factor\":32.0,\"high_freq_factor\":4.0,\"low_freq_factor\":1.0,\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\",\"rope_theta\":500000.0},";
        string llama = Llama32OneB.Replace(Scaling, Parameters, StringComparison.Ordinal).Replace("\"rope_theta\":500000.0,\"tie", "\"tie", StringComparison.Ordinal);
        Assert.DoesNotContain("rope_scaling", llama, "the test's edit must apply");
        Assert.DoesNotContain("\"rope_theta\":500000.0,\"tie", llama, "the test's edit must apply");
        string qwen = Qwen25HalfB.Replace("\"rope_theta\":1000000.0,", "\"rope_parameters\":{\"rope_theta\":1000000.0,\"rope_type\":\"default\"},", StringComparison.Ordinal);
        Assert.Contains("rope_parameters", qwen, "the test's edit must apply");

        var llamaConfig = LlamaConfig.FromJson(llama);
        var qwenConfig = LlamaConfig.FromJson(qwen);

        var original = LlamaConfig.FromJson(Llama32OneB);
        Assert.AreEqual((original.RopeTheta, original.RopeScaling), (llamaConfig.RopeTheta, llamaConfig.RopeScaling));
        Assert.AreEqual(500000.0, llamaConfig.RopeTheta);
        Assert.AreEqual((1000000.0, null), (qwenConfig.RopeTheta, qwenConfig.RopeScaling));
        Assert.IsNull(LlamaConfig.FromJson(Qwen25HalfB.Replace("\"rope_theta\"", "\"rope_scaling\":{\"rope_type\":\"default\"},\"rope_theta\"", StringComparison.Ordinal)).RopeScaling);
    }

    [TestMethod]
    public void KeysLeftOutTakeTheDefaultsOfTheFamilysTransformersConfig()
    {
        // Hand-written configs may leave keys out; transformers' LlamaConfig, Qwen2Config and MistralConfig fill them
        // with different defaults (configuration_llama/qwen2/mistral.py).
        const string Minimal = "{\"model_type\":\"TYPE\",\"hidden_size\":128,\"num_hidden_layers\":1,\"num_attention_heads\":32}";
        var llama = LlamaConfig.FromJson(Minimal.Replace("TYPE", "llama", StringComparison.Ordinal));
        var qwen = LlamaConfig.FromJson(Minimal.Replace("TYPE", "qwen2", StringComparison.Ordinal));
        var mistral = LlamaConfig.FromJson(Minimal.Replace("TYPE", "mistral", StringComparison.Ordinal));

        Assert.AreEqual((32000, 11008, (int?)null, 32, 2048, (int?)null), (llama.VocabularySize, llama.IntermediateSize, llama.KeyValueHeadCount, llama.EffectiveKeyValueHeadCount, llama.MaxPositions, llama.SlidingWindow));
        Assert.AreEqual((151936, 22016, (int?)32, 32768, (int?)4096, false), (qwen.VocabularySize, qwen.IntermediateSize, qwen.KeyValueHeadCount, qwen.MaxPositions, qwen.SlidingWindow, qwen.UseSlidingWindow));
        Assert.AreEqual((32000, 14336, (int?)8, 131072, (int?)4096), (mistral.VocabularySize, mistral.IntermediateSize, mistral.KeyValueHeadCount, mistral.MaxPositions, mistral.SlidingWindow));
        Assert.AreEqual(4096, mistral.ContextLength);

        // An explicit null is not a left-out key: null key/value heads mean one per head, a null window none.
        var explicitNulls = LlamaConfig.FromJson(Minimal.Replace("TYPE", "mistral", StringComparison.Ordinal).Replace("}", ",\"num_key_value_heads\":null,\"sliding_window\":null}", StringComparison.Ordinal));
        Assert.AreEqual((32, (int?)null, 131072), (explicitNulls.EffectiveKeyValueHeadCount, explicitNulls.SlidingWindow, explicitNulls.ContextLength));
    }

    [TestMethod]
    public void UnsupportedRopeTypeInAFolderNamesTheKey()
    {
        string folder = TinyLlama.CreateFolder(TinyLlama.Llama(), seed: 1);
        string path = Path.Combine(folder, "config.json");
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2.0}", StringComparison.Ordinal));
        var error = Assert.ThrowsExactly<ModelFormatException>(() => PretrainedModel.LoadModel(folder));
        Assert.AreEqual("rope_scaling.rope_type", error.Key);
        StringAssert.Contains(error.Message, "dynamic");
    }

    [TestMethod]
    public void MissingTensorIsNamed()
    {
        string folder = TinyLlama.CreateFolder(TinyLlama.Llama(), seed: 2);
        string weights = Path.Combine(folder, LlamaPretrained.WeightsFileName);
        var tensors = SafeTensorsFile.ReadAll(weights);
        tensors.Remove("model.layers.1.self_attn.k_proj.weight", out var removed);
        removed!.Dispose();
        SafeTensorsFile.Write(weights, [.. tensors]);
        var error = Assert.ThrowsExactly<ModelFormatException>(() => PretrainedModel.LoadModel(folder));
        Assert.AreEqual("model.layers.1.self_attn.k_proj.weight", error.Key);
        StringAssert.Contains(error.Message, "missing");
    }

    [TestMethod]
    [DataRow(ScalarType.Float32, double.NaN)]
    [DataRow(ScalarType.BFloat16, double.PositiveInfinity)]
    [DataRow(ScalarType.Float16, double.NegativeInfinity)]
    public void NonFiniteWeightIsNamed(ScalarType storage, double value)
    {
        string folder = TinyLlama.CreateFolder(TinyLlama.Llama(), seed: 2, storage);
        string weights = Path.Combine(folder, LlamaPretrained.WeightsFileName);
        var tensors = SafeTensorsFile.ReadAll(weights);
        using (var noGrad = no_grad())
        {
            tensors["model.layers.0.mlp.up_proj.weight"][3, 5] = tensor(value, storage);
        }

        SafeTensorsFile.Write(weights, [.. tensors]);
        var error = Assert.ThrowsExactly<ModelFormatException>(() => PretrainedModel.LoadModel(folder));
        Assert.AreEqual("model.layers.0.mlp.up_proj.weight", error.Key);
        StringAssert.Contains(error.Message, "holds 1 NaN or infinite");
    }

    [TestMethod]
    public void NonFiniteWeightsAreCountedAcrossTheLoadersReadChunks()
    {
        // A float32 embedding of 10,000 x 32 values is 1.28 MB: more than the 1 MiB the loader reads and checks at a time.
        var config = TinyLlama.Llama(vocabularySize: 10_000);
        string folder = TinyLlama.CreateFolder(config, seed: 5, ScalarType.Float32);
        string weights = Path.Combine(folder, LlamaPretrained.WeightsFileName);
        var tensors = SafeTensorsFile.ReadAll(weights);
        using (var noGrad = no_grad())
        {
            var embedding = tensors["model.embed_tokens.weight"];
            embedding[0, 0] = tensor(float.NaN);
            embedding[8191, 31] = tensor(float.PositiveInfinity); // the last value of the first MiB
            embedding[8192, 0] = tensor(float.NaN); // the first value of the second
            embedding[9999, 31] = tensor(float.NegativeInfinity);
        }

        SafeTensorsFile.Write(weights, [.. tensors]);
        var error = Assert.ThrowsExactly<ModelFormatException>(() => PretrainedModel.LoadModel(folder));
        Assert.AreEqual("model.embed_tokens.weight", error.Key);
        StringAssert.Contains(error.Message, "holds 4 NaN or infinite");
    }

    [TestMethod]
    [DataRow(new[] { 0 })]
    [DataRow(new[] { 15, 16, 17 })]
    [DataRow(new[] { 1000, 1006 })]
    [DataRow(new int[0])]
    public void TheVectorisedNonFiniteCountEqualsAPlainCount(int[] badAt)
    {
        var random = new Random(11);
        var bits = new ushort[1007];
        for (int i = 0; i < bits.Length; i++)
        {
            bits[i] = (ushort)(random.Next(0, 0x7F80) | (random.Next(2) << 15)); // bfloat16 bits with a finite exponent
        }

        foreach (int i in badAt)
        {
            bits[i] = (ushort)(0x7F80 | random.Next(0, 0x80) | (random.Next(2) << 15));
        }

        long plain = bits.Count(b => (b & 0x7F80) == 0x7F80);
        Assert.AreEqual(badAt.Length, plain, "the test data has exactly the planted values");
        Assert.AreEqual(plain, LlamaWeightLoader.CountNonFinite<ushort>(bits, 0x7F80));
    }

    [TestMethod]
    public void UntiedConfigWithoutLmHeadIsNamed()
    {
        string folder = TinyLlama.CreateFolder(TinyLlama.Qwen2(), seed: 2);
        File.WriteAllText(Path.Combine(folder, "config.json"), (TinyLlama.Qwen2() with { TieWordEmbeddings = false }).ToJson());
        var error = Assert.ThrowsExactly<ModelFormatException>(() => PretrainedModel.LoadModel(folder));
        Assert.AreEqual("lm_head.weight", error.Key);
        StringAssert.Contains(error.Message, "tie_word_embeddings");
    }

    [TestMethod]
    public void WrongShapeIsNamed()
    {
        string folder = TinyLlama.CreateFolder(TinyLlama.Llama(), seed: 3);
        File.WriteAllText(Path.Combine(folder, "config.json"), (TinyLlama.Llama() with { IntermediateSize = 40 }).ToJson());
        var error = Assert.ThrowsExactly<ModelFormatException>(() => PretrainedModel.LoadModel(folder));
        StringAssert.Contains(error.Key, ".mlp.");
        StringAssert.Contains(error.Message, "48");
        StringAssert.Contains(error.Message, "40");
    }

    [TestMethod]
    public void ShardOutsideTheFolderIsRefused()
    {
        string folder = TinyLlama.CreateFolder(TinyLlama.Llama(), seed: 4, maxShardBytes: 30_000);
        string index = Path.Combine(folder, LlamaPretrained.WeightsIndexFileName);
        File.WriteAllText(index, File.ReadAllText(index).Replace("\"model-00001-of-", "\"../model-00001-of-", StringComparison.Ordinal));
        var error = Assert.ThrowsExactly<ModelFormatException>(() => PretrainedModel.LoadModel(folder));
        StringAssert.StartsWith(error.Key, "weight_map.");
    }

    [TestMethod]
    public void Gpt2FoldersStillLoadThroughTheDispatcher()
    {
        string folder = TinyGpt2Folder();
        using var pretrained = PretrainedModel.Load(folder);
        Assert.IsInstanceOfType<Gpt2Model>(pretrained.Model);
        Assert.AreEqual(ScalarType.Float32, pretrained.Model.DType);
        Assert.AreEqual("gpt2", pretrained.ModelType);
    }

    private static string TinyGpt2Folder() => Tests.Models.TinyGpt2.CreateFolder(Tests.Models.TinyGpt2.Config(vocabularySize: 50257), seed: 1);
}
