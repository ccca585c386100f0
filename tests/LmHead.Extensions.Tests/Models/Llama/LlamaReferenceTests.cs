using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Models.Llama;

/// <summary>
/// Logits of random-weight folders of each family, loaded through <see cref="PretrainedModel"/>, against the float64
/// <see cref="ReferenceLlama"/> on the same stored weights.
/// </summary>
[TestClass]
public sealed class LlamaReferenceTests
{
    private static readonly int[] Prompt = [1, 5, 17, 42, 8, 96, 3, 60, 33, 12, 0, 77];

    public static IEnumerable<object[]> Families =>
    [
        ["llama GQA, untied", TinyLlama.Llama()],
        ["llama3 rope_scaling, EOS list", TinyLlama.Llama3Scaled()],
        ["linear rope_scaling", TinyLlama.Llama() with { RopeScaling = new LlamaRopeScaling { RopeType = "linear", Factor = 4 } }],
        ["qwen2 q/k/v biases, tied", TinyLlama.Qwen2()],
        ["mistral head_dim 12, one kv head", TinyLlama.Mistral()],
        ["llama attention_bias, multi-head", TinyLlama.LlamaWithBias()],
    ];

    [TestMethod]
    [DynamicData(nameof(Families))]
    public void LogitsMatchTheFloat64ReferenceWithin1e4(string family, LlamaConfig config)
    {
        string folder = TinyLlama.CreateFolder(config, seed: 11);
        var reference = new ReferenceLlama(folder, config).Logits(Prompt);
        using var model = PretrainedModel.LoadModel(folder);
        Assert.IsInstanceOfType<LlamaModel>(model, family);
        AssertClose(reference, model, Prompt, 1e-4, family);
    }

    /// <summary>
    /// Half-precision weights: the reference reads the same rounded values from the file, and the model computes in
    /// float32 on the CPU, so the only difference left is float32 against float64 arithmetic, as for float32 weights.
    /// </summary>
    [TestMethod]
    [DataRow(ScalarType.Float16)]
    [DataRow(ScalarType.BFloat16)]
    public void HalfPrecisionWeightsMatchTheReferenceOnTheRoundedWeights(ScalarType storage)
    {
        var config = TinyLlama.Llama3Scaled();
        string folder = TinyLlama.CreateFolder(config, seed: 5, storage);
        var reference = new ReferenceLlama(folder, config).Logits(Prompt);
        using var model = PretrainedModel.LoadModel(folder);
        Assert.AreEqual(storage, model.DType, "the dtype defaults to config.json's torch_dtype");
        AssertClose(reference, model, Prompt, 1e-4, storage.ToString());
    }

    [TestMethod]
    public void ShardedFolderLoadsTheSameWeights()
    {
        var config = TinyLlama.Qwen2() with { TieWordEmbeddings = false };
        string folder = TinyLlama.CreateFolder(config, seed: 9, maxShardBytes: 40_000);
        Assert.IsFalse(File.Exists(Path.Combine(folder, LlamaPretrained.WeightsFileName)));
        Assert.IsTrue(File.Exists(Path.Combine(folder, LlamaPretrained.WeightsIndexFileName)));
        Assert.IsTrue(Directory.GetFiles(folder, "model-*-of-*.safetensors").Length >= 3, "the limit splits the weights over several shards");
        var reference = new ReferenceLlama(folder, config).Logits(Prompt);
        using var model = PretrainedModel.LoadModel(folder);
        AssertClose(reference, model, Prompt, 1e-4, "sharded");
    }

    [TestMethod]
    public void LongPromptWithRopeScalingStaysWithin1e4()
    {
        var config = TinyLlama.Llama3Scaled();
        string folder = TinyLlama.CreateFolder(config, seed: 21);
        int[] prompt = [.. Enumerable.Range(0, 60).Select(i => (i * 37) % config.VocabularySize)];
        var reference = new ReferenceLlama(folder, config).Logits(prompt);
        using var model = PretrainedModel.LoadModel(folder);
        AssertClose(reference, model, prompt, 1e-4, "60 positions");
    }

    internal static void AssertClose(double[][] reference, CausalLanguageModel model, int[] ids, double tolerance, string what)
    {
        using var scope = NewDisposeScope();
        var logits = model.ComputeLogits(tensor(ids, ScalarType.Int64)).to_type(ScalarType.Float64).contiguous();
        double[] flat = logits.data<double>().ToArray();
        int vocabulary = model.VocabularySize;
        double worst = 0, largest = 0;
        for (int t = 0; t < ids.Length; t++)
        {
            for (int v = 0; v < vocabulary; v++)
            {
                worst = Math.Max(worst, Math.Abs(flat[(t * vocabulary) + v] - reference[t][v]));
                largest = Math.Max(largest, Math.Abs(reference[t][v]));
            }
        }

        Assert.IsTrue(largest > 0.5, $"{what}: the reference logits are too small ({largest}) for the comparison to mean anything");
        Assert.IsTrue(worst <= tolerance, $"{what}: max |model - reference| = {worst:e3} > {tolerance:e1} (largest |logit| {largest:f2})");
    }
}
