using System.Text;
using LmHead.Extensions.Models;
using LmHead.Extensions.Tokenization;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Models;

[TestClass]
public sealed class Gpt2PretrainedTests
{
    private static readonly int[] HelloIds = [6, 3];

    private static string WeightsOf(string folder) => Path.Combine(folder, Gpt2Pretrained.WeightsFileName);

    private static void Rewrite(string folder, Action<Dictionary<string, SafeTensorsTestFile.TestTensor>> change)
    {
        var tensors = SafeTensorsTestFile.ReadF32(WeightsOf(folder));
        change(tensors);
        SafeTensorsTestFile.WriteF32(WeightsOf(folder), tensors);
    }

    [TestMethod]
    public void SavesHuggingFaceKeysWithConv1DShapesAndNoTiedHead()
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(), seed: 10);

        var stored = SafeTensorsTestFile.ReadF32(WeightsOf(folder));

        CollectionAssert.AreEqual(new long[] { 32, 96 }, stored["transformer.h.0.attn.c_attn.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 128, 32 }, stored["transformer.h.1.mlp.c_proj.weight"].Shape);
        Assert.IsFalse(stored.ContainsKey("lm_head.weight"));
        Assert.Contains("\"n_embd\": 32", File.ReadAllText(Path.Combine(folder, "config.json")));
    }

    [TestMethod]
    public void LoadsKeysWithoutTheTransformerPrefixAndIgnoresAttentionMaskBuffersAndATiedHead()
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(), seed: 11);
        using var original = Gpt2Pretrained.LoadModel(folder);
        Rewrite(folder, tensors =>
        {
            foreach (var key in tensors.Keys.ToList())
            {
                tensors[key["transformer.".Length..]] = tensors[key];
                tensors.Remove(key);
            }

            tensors["h.0.attn.bias"] = new([1, 1, 2, 2], [1, 0, 1, 1]);
            tensors["lm_head.weight"] = tensors["wte.weight"];
        });
        using var ids = tensor(new long[] { 1, 2, 3 });

        using var reloaded = Gpt2Pretrained.LoadModel(folder);
        using var expected = original.ComputeLogits(ids);
        using var actual = reloaded.ComputeLogits(ids);

        Assert.IsTrue(expected.allclose(actual, rtol: 0, atol: 0));
    }

    [TestMethod]
    public void Float16StorageRoundTripsToTheHalfPrecisionValues()
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(), seed: 12);
        string halfFolder = TinyGpt2.NewFolder();
        using var original = Gpt2Pretrained.LoadModel(folder);

        Gpt2Pretrained.Save(original, halfFolder, ScalarType.Float16);
        using var reloaded = Gpt2Pretrained.LoadModel(halfFolder);

        Assert.Contains("\"F16\"", SafeTensorsTestFile.ReadHeaderJson(WeightsOf(halfFolder)));
        Assert.IsLessThan(new FileInfo(WeightsOf(folder)).Length * 6 / 10, new FileInfo(WeightsOf(halfFolder)).Length);
        var reloadedParameters = reloaded.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, parameter) in original.named_parameters())
        {
            using var rounded = parameter.to_type(ScalarType.Float16).to_type(ScalarType.Float32);
            Assert.IsTrue(rounded.allclose(reloadedParameters[name], rtol: 0, atol: 0), name);
        }
    }

    [TestMethod]
    public void BFloat16StorageLoadsIntoABFloat16OrFloat32Model()
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(), seed: 13, storage: ScalarType.BFloat16);
        using var ids = tensor(new long[] { 4, 5, 6 });

        using var asFloat = Gpt2Pretrained.LoadModel(folder);
        using var asBFloat = Gpt2Pretrained.LoadModel(folder, ScalarType.BFloat16);
        using var floatLogits = asFloat.ComputeLogits(ids);
        using var bfloatLogits = asBFloat.ComputeLogits(ids).to_type(ScalarType.Float32);

        Assert.AreEqual(ScalarType.BFloat16, asBFloat.DType);
        Assert.IsTrue(floatLogits.allclose(bfloatLogits, rtol: 0.1, atol: 0.5));
    }

    [TestMethod]
    public void ThrowsNamingTheKeyWhenATensorIsMissing()
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(), seed: 14);
        Rewrite(folder, t => t.Remove("transformer.h.1.ln_2.bias"));

        var ex = Assert.ThrowsExactly<ModelFormatException>(() => Gpt2Pretrained.LoadModel(folder));

        Assert.AreEqual("transformer.h.1.ln_2.bias", ex.Key);
        Assert.Contains("model.safetensors", ex.Message);
        Assert.Contains("missing", ex.Message);
    }

    [TestMethod]
    public void ThrowsNamingTheKeyWhenATensorIsUnknown()
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(), seed: 15);
        Rewrite(folder, t => t["transformer.h.2.ln_1.weight"] = new([32], new float[32]));

        var ex = Assert.ThrowsExactly<ModelFormatException>(() => Gpt2Pretrained.LoadModel(folder));

        Assert.AreEqual("transformer.h.2.ln_1.weight", ex.Key);
        Assert.Contains("unknown", ex.Message);
    }

    [TestMethod]
    public void ThrowsNamingTheKeyWhenAShapeIsWrong()
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(), seed: 16);
        // nn.Linear layout [out, in] instead of Conv1D's [in, out]
        Rewrite(folder, t => t["transformer.h.0.attn.c_attn.weight"] = t["transformer.h.0.attn.c_attn.weight"] with { Shape = [96, 32] });

        var ex = Assert.ThrowsExactly<ModelFormatException>(() => Gpt2Pretrained.LoadModel(folder));

        Assert.AreEqual("transformer.h.0.attn.c_attn.weight", ex.Key);
        Assert.Contains("[96, 32]", ex.Message);
        Assert.Contains("[32, 96]", ex.Message);
    }

    [TestMethod]
    public void ThrowsWhenTheWeightsFileIsTruncated()
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(), seed: 17);
        byte[] bytes = File.ReadAllBytes(WeightsOf(folder));
        File.WriteAllBytes(WeightsOf(folder), bytes[..(bytes.Length - 100)]);

        var ex = Assert.ThrowsExactly<ModelFormatException>(() => Gpt2Pretrained.LoadModel(folder));

        Assert.Contains("truncated", ex.Message);
        Assert.IsNotNull(ex.Key);
    }

    [TestMethod]
    public void ThrowsWhenTheHeaderLengthOrHeaderIsCorrupt()
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(), seed: 18);
        byte[] bytes = File.ReadAllBytes(WeightsOf(folder));
        byte[] hugeLength = [.. bytes];
        BitConverter.GetBytes(long.MaxValue).CopyTo(hugeLength, 0);
        byte[] badJson = [.. bytes];
        badJson[8] = (byte)'[';
        byte[] tiny = bytes[..5];

        foreach (var corrupt in new[] { hugeLength, badJson, tiny })
        {
            File.WriteAllBytes(WeightsOf(folder), corrupt);
            var ex = Assert.ThrowsExactly<ModelFormatException>(() => Gpt2Pretrained.LoadModel(folder));
            Assert.AreEqual(WeightsOf(folder), ex.FilePath);
        }
    }

    [TestMethod]
    public void ThrowsWhenAByteCountDoesNotMatchTheShapeOrTensorsOverlap()
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(), seed: 19);
        string header = SafeTensorsTestFile.ReadHeaderJson(WeightsOf(folder));
        byte[] bytes = File.ReadAllBytes(WeightsOf(folder));
        // Same-length edit of the header: claim ln_f.bias has 33 entries instead of 32.
        string edited = header.Replace("\"transformer.ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[32]", "\"transformer.ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[33]", StringComparison.Ordinal);
        Assert.AreNotEqual(header, edited);
        Encoding.UTF8.GetBytes(edited).CopyTo(bytes, 8);
        File.WriteAllBytes(WeightsOf(folder), bytes);

        var ex = Assert.ThrowsExactly<ModelFormatException>(() => Gpt2Pretrained.LoadModel(folder));

        Assert.AreEqual("transformer.ln_f.bias", ex.Key);
    }

    [TestMethod]
    public void ThrowsNamingConfigJsonWhenItIsNotJsonOrNotGpt2()
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(), seed: 20);
        string config = Path.Combine(folder, "config.json");
        string good = File.ReadAllText(config);

        File.WriteAllText(config, "{ \"n_embd\": 32, ");
        var badJson = Assert.ThrowsExactly<ModelFormatException>(() => Gpt2Pretrained.LoadModel(folder));
        File.WriteAllText(config, good.Replace("\"gelu_new\"", "\"relu\"", StringComparison.Ordinal));
        var activation = Assert.ThrowsExactly<ModelFormatException>(() => Gpt2Pretrained.LoadModel(folder));
        File.WriteAllText(config, good.Replace("\"model_type\": \"gpt2\"", "\"model_type\": \"llama\"", StringComparison.Ordinal));
        var architecture = Assert.ThrowsExactly<ModelFormatException>(() => Gpt2Pretrained.LoadModel(folder));
        File.WriteAllText(config, good.Replace("\"n_head\": 4", "\"n_head\": 5", StringComparison.Ordinal));
        var heads = Assert.ThrowsExactly<ModelFormatException>(() => Gpt2Pretrained.LoadModel(folder));

        Assert.AreEqual(config, badJson.FilePath);
        Assert.Contains("relu", activation.Message);
        Assert.AreEqual("activation_function", activation.Key);
        Assert.AreEqual("model_type", architecture.Key);
        Assert.AreEqual("n_head", heads.Key);
    }

    [TestMethod]
    public void ThrowsWhenAFileIsMissing()
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(), seed: 21);
        File.Delete(WeightsOf(folder));

        var ex = Assert.ThrowsExactly<ModelFormatException>(() => Gpt2Pretrained.LoadModel(folder));

        Assert.AreEqual(WeightsOf(folder), ex.FilePath);
        Assert.ThrowsExactly<DirectoryNotFoundException>(() => Gpt2Pretrained.LoadModel(Path.Combine(folder, "nope")));
    }

    [TestMethod]
    public void UsesTheFoldersVocabularyAndMergesWhenPresentElseTheBuiltInTokenizer()
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(), seed: 22);
        using (var builtIn = Gpt2Pretrained.Load(folder))
        {
            Assert.AreSame(Gpt2Tokenizer.Default, builtIn.Tokenizer);
        }

        File.WriteAllText(Path.Combine(folder, "vocab.json"), "{\"h\": 0, \"e\": 1, \"l\": 2, \"o\": 3, \"he\": 4, \"ll\": 5, \"hell\": 6, \"<|endoftext|>\": 7}");
        File.WriteAllText(Path.Combine(folder, "merges.txt"), "#version: 0.2\nh e\nl l\nhe ll\n");
        using var custom = Gpt2Pretrained.Load(folder);

        var ids = custom.Tokenizer.EncodeToIds("hello");

        CollectionAssert.AreEqual(HelloIds, ids.ToArray());
        Assert.AreEqual("hello", custom.Tokenizer.Decode(ids));
    }
}
