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
    public void Float16ComputeGivesLogitsCloseToFloat32()
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(), seed: 23);
        using var ids = tensor(new long[] { 7, 8, 9, 10 });

        using var asFloat = Gpt2Pretrained.LoadModel(folder);
        using var asHalf = Gpt2Pretrained.LoadModel(folder, ScalarType.Float16);
        using var floatLogits = asFloat.ComputeLogits(ids);
        using var halfLogits = asHalf.ComputeLogits(ids);
        using var halfAsFloat = halfLogits.to_type(ScalarType.Float32);

        Assert.AreEqual(ScalarType.Float16, halfLogits.dtype);
        Assert.IsTrue(floatLogits.allclose(halfAsFloat, rtol: 0.02, atol: 0.1));
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
        File.WriteAllText(config, good.Replace("\"scale_attn_by_inverse_layer_idx\": false", "\"scale_attn_by_inverse_layer_idx\": true", StringComparison.Ordinal));
        var variant = Assert.ThrowsExactly<ModelFormatException>(() => Gpt2Pretrained.LoadModel(folder));

        Assert.AreEqual(config, badJson.FilePath);
        Assert.Contains("relu", activation.Message);
        Assert.AreEqual("activation_function", activation.Key);
        Assert.AreEqual("model_type", architecture.Key);
        Assert.AreEqual("n_head", heads.Key);
        Assert.AreEqual("scale_attn_by_inverse_layer_idx", variant.Key);
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
    [DataRow("wrong shape")]
    [DataRow("transposed")]
    [DataRow("other values")]
    [DataRow("NaN")]
    public void ThrowsNamingTheHeadWhenATiedModelStoresAMalformedLmHead(string variant)
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(), seed: 24);
        Rewrite(folder, t =>
        {
            var wte = t["transformer.wte.weight"];
            float[] values = (float[])wte.Data.Clone();
            long[] shape = variant switch
            {
                "wrong shape" => [300, 31],
                "transposed" => [32, 300],
                _ => wte.Shape,
            };
            if (variant == "wrong shape")
            {
                values = values[..(300 * 31)];
            }
            else if (variant == "other values")
            {
                values[1234] += 1e-3f;
            }
            else if (variant == "NaN")
            {
                values[5] = float.NaN;
            }

            t["lm_head.weight"] = new(shape, values);
        });

        var ex = Assert.ThrowsExactly<ModelFormatException>(() => Gpt2Pretrained.LoadModel(folder));

        Assert.AreEqual("lm_head.weight", ex.Key);
        Assert.Contains("transformer.wte.weight", ex.Message);
    }

    [TestMethod]
    public void ThrowsAReadableMessageWhenAnUntiedModelHasNoHead()
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(tied: false), seed: 25);
        // An attention-mask buffer as large as the head keeps the stored value count up, so the check that the file
        // holds enough values for config.json passes and the missing tensor itself is reported.
        Rewrite(folder, t =>
        {
            t["h.0.attn.bias"] = t["lm_head.weight"] with { Shape = [1, 1, 300, 32] };
            t.Remove("lm_head.weight");
        });

        var ex = Assert.ThrowsExactly<ModelFormatException>(() => Gpt2Pretrained.LoadModel(folder));

        Assert.AreEqual("lm_head.weight", ex.Key);
        Assert.Contains("tie_word_embeddings", ex.Message);
        Assert.DoesNotContain("'ht'", ex.Message);
    }

    [TestMethod]
    [DataRow(float.NaN)]
    [DataRow(float.PositiveInfinity)]
    public void ThrowsNamingTheTensorWhenAWeightIsNotFinite(float value)
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(), seed: 26);
        Rewrite(folder, t => t["transformer.h.1.mlp.c_fc.weight"].Data[17] = value);

        var ex = Assert.ThrowsExactly<ModelFormatException>(() => Gpt2Pretrained.LoadModel(folder));

        Assert.AreEqual("transformer.h.1.mlp.c_fc.weight", ex.Key);
        Assert.Contains("1 NaN or infinite", ex.Message);
    }

    [TestMethod]
    public void ThrowsWhenAValueOverflowsTheComputeDtype()
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(), seed: 27);
        Rewrite(folder, t => t["transformer.h.0.ln_1.bias"].Data[3] = 1e6f);

        var ex = Assert.ThrowsExactly<ModelFormatException>(() => Gpt2Pretrained.LoadModel(folder, ScalarType.Float16));

        Assert.AreEqual("transformer.h.0.ln_1.bias", ex.Key);
        Assert.Contains("Float16", ex.Message);
    }

    [TestMethod]
    [DataRow("vocab.json", "merges.txt")]
    [DataRow("merges.txt", "vocab.json")]
    [DataRow("tokenizer.json", "tokenizer.json")]
    [DataRow("vocab.json", "merges.txt", "merges.txt")]
    public void APartialTokenizerIsAnErrorNamingTheMissingFileInsteadOfTheBuiltInTokenizer(string present, string named, string? asDirectory = null)
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(), seed: 28);
        File.WriteAllText(Path.Combine(folder, present), present.EndsWith(".txt", StringComparison.Ordinal) ? "#version: 0.2\nh e\n" : "{\"h\": 0, \"e\": 1, \"he\": 2}");
        if (asDirectory is not null)
        {
            Directory.CreateDirectory(Path.Combine(folder, asDirectory));
        }

        var load = Assert.ThrowsExactly<ModelFormatException>(() => Gpt2Pretrained.Load(folder));
        var tokenizer = Assert.ThrowsExactly<ModelFormatException>(() => Gpt2Pretrained.LoadTokenizer(folder));

        Assert.AreEqual(Path.Combine(folder, named), load.FilePath);
        Assert.AreEqual(Path.Combine(folder, named), tokenizer.FilePath);
        Assert.Contains(asDirectory is null ? named : "directory", load.Message);
        Assert.ThrowsExactly<DirectoryNotFoundException>(() => Gpt2Pretrained.LoadTokenizer(Path.Combine(folder, "nope")));
    }

    [TestMethod]
    public void ThrowsWhenConfigJsonIsNotUtf8()
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(), seed: 29);
        string config = Path.Combine(folder, "config.json");
        byte[] bytes = File.ReadAllBytes(config);
        int at = Array.IndexOf(bytes, (byte)'g'); // inside "gpt2" or "gelu_new": a string the old reader decoded to U+FFFD
        bytes[at] = 0xFF;
        File.WriteAllBytes(config, bytes);

        var ex = Assert.ThrowsExactly<ModelFormatException>(() => Gpt2Pretrained.LoadModel(folder));

        Assert.AreEqual(config, ex.FilePath);
        Assert.Contains("UTF-8", ex.Message);
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
