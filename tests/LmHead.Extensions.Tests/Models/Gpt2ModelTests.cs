using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Models;

[TestClass]
public sealed class Gpt2ModelTests
{
    private static readonly int[] Prompt = [5, 17, 250, 3, 99, 42, 42, 0, 299, 123, 7, 64];

    private static float[] Row(Tensor logits, int position)
    {
        using var row = logits[position].to_type(ScalarType.Float32);
        return row.data<float>().ToArray();
    }

    private static void AssertClose(double[] expected, float[] actual, double tolerance, string what)
    {
        Assert.HasCount(expected.Length, actual);
        double worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.IsLessThan(tolerance, worst, $"{what}: largest difference {worst}");
    }

    [TestMethod]
    public void LogitsMatchAnIndependentPlainCSharpGpt2()
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(), seed: 1);
        var reference = new ReferenceGpt2(folder).Logits(Prompt);
        using var model = Gpt2Pretrained.LoadModel(folder);
        using var ids = tensor(Prompt.Select(i => (long)i).ToArray());

        using var logits = model.ComputeLogits(ids);

        Assert.AreEqual(300L, logits.shape[1]);
        for (int t = 0; t < Prompt.Length; t++)
        {
            AssertClose(reference[t], Row(logits, t), 1e-4, $"position {t}");
        }
    }

    [TestMethod]
    public void UntiedHeadUsesLmHeadWeightAndMatchesTheReference()
    {
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(tied: false), seed: 2);
        Assert.Contains("\"lm_head.weight\"", SafeTensorsTestFile.ReadHeaderJson(Path.Combine(folder, "model.safetensors")));
        var reference = new ReferenceGpt2(folder).Logits(Prompt);
        using var model = Gpt2Pretrained.LoadModel(folder);
        using var ids = tensor(Prompt.Select(i => (long)i).ToArray());

        using var logits = model.ComputeLogits(ids);

        AssertClose(reference[^1], Row(logits, Prompt.Length - 1), 1e-4, "last position");
    }

    [TestMethod]
    public void ParameterNamesAndShapesAreHuggingFaces()
    {
        using var model = new Gpt2Model(TinyGpt2.Config());

        var shapes = model.named_parameters().ToDictionary(p => p.name, p => string.Join("x", p.parameter.shape));

        Assert.HasCount(4 + 2 * 12, shapes);
        Assert.AreEqual("300x32", shapes["transformer.wte.weight"]);
        Assert.AreEqual("64x32", shapes["transformer.wpe.weight"]);
        Assert.AreEqual("32x96", shapes["transformer.h.0.attn.c_attn.weight"]);
        Assert.AreEqual("96", shapes["transformer.h.1.attn.c_attn.bias"]);
        Assert.AreEqual("32x32", shapes["transformer.h.1.attn.c_proj.weight"]);
        Assert.AreEqual("32x128", shapes["transformer.h.0.mlp.c_fc.weight"]);
        Assert.AreEqual("128x32", shapes["transformer.h.0.mlp.c_proj.weight"]);
        Assert.AreEqual("32", shapes["transformer.h.0.ln_2.bias"]);
        Assert.AreEqual("32", shapes["transformer.ln_f.weight"]);
        Assert.IsFalse(shapes.ContainsKey("lm_head.weight"));
    }

    [TestMethod]
    public void KvCacheStepsGiveTheSameLogitsAsAFullRecompute()
    {
        using var model = TinyGpt2.CreateRandom(TinyGpt2.Config(), seed: 3);
        using var all = tensor(Prompt.Select(i => (long)i).ToArray());
        using var full = model.ComputeLogits(all);
        using var cache = model.CreateKvCache();

        using (var prefix = tensor(Prompt.Take(5).Select(i => (long)i).ToArray()))
        using (var first = model.ComputeLogits(prefix, cache))
        {
            AssertClose([.. Row(full, 4).Select(v => (double)v)], Row(first, 4), 1e-4, "prefix");
        }

        for (int t = 5; t < Prompt.Length; t++)
        {
            using var step = tensor(new long[] { Prompt[t] });
            using var logits = model.ComputeLogits(step, cache);
            AssertClose([.. Row(full, t).Select(v => (double)v)], Row(logits, 0), 1e-4, $"step {t}");
        }

        Assert.AreEqual(Prompt.Length, cache.Length);
    }

    [TestMethod]
    public void HiddenStateThroughTheOutputEmbeddingsEqualsTheLogits()
    {
        using var model = TinyGpt2.CreateRandom(TinyGpt2.Config(), seed: 4);
        using var ids = tensor(Prompt.Select(i => (long)i).ToArray());
        using var logits = model.ComputeLogits(ids);
        using var hidden = model.ComputeHiddenStates(ids);
        using var projector = model.GetOutputEmbeddings();

        using var last = hidden[Prompt.Length - 1];
        using var projected = projector.Project(last);

        Assert.AreEqual(32, projector.HiddenSize);
        AssertClose([.. Row(logits, Prompt.Length - 1).Select(v => (double)v)], projected.data<float>().ToArray(), 1e-5, "projected");
    }

    [TestMethod]
    public void ThrowsWhenTheSequenceWouldExceedNPositions()
    {
        using var model = TinyGpt2.CreateRandom(TinyGpt2.Config(), seed: 5);
        using var tooLong = zeros(65, ScalarType.Int64);
        using var sixty = zeros(60, ScalarType.Int64);
        using var five = zeros(5, ScalarType.Int64);
        using var cache = model.CreateKvCache();
        using var filled = model.ComputeLogits(sixty, cache);

        var direct = Assert.ThrowsExactly<ArgumentException>(() => model.ComputeLogits(tooLong));
        var cached = Assert.ThrowsExactly<ArgumentException>(() => model.ComputeLogits(five, cache));

        Assert.Contains("n_positions = 64", direct.Message);
        Assert.Contains("60 cached + 5 new", cached.Message);
        Assert.AreEqual(60, cache.Length);
    }

    [TestMethod]
    public void ThrowsWhenATokenIdIsOutsideTheVocabulary()
    {
        using var model = new Gpt2Model(TinyGpt2.Config());
        using var ids = tensor(new long[] { 1, 300 });

        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => model.ComputeLogits(ids));
    }

    [TestMethod]
    public void LeftPaddedBatchGivesEachRowItsUnpaddedLogitsAlsoWithTheCache()
    {
        using var model = TinyGpt2.CreateRandom(TinyGpt2.Config(), seed: 6);
        long[] shortPrompt = [9, 8, 7], longPrompt = [1, 2, 3, 4, 5, 6];
        using var batch = tensor(new long[] { 0, 0, 0, 9, 8, 7, 1, 2, 3, 4, 5, 6 }, [2, 6]);
        using var mask = tensor(new long[] { 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1 }, [2, 6]);
        using var cache = model.CreateKvCache();

        using var batched = model.ComputeLogits(batch, cache, mask);
        using var next = tensor(new long[] { 11, 12 }, [2, 1]);
        using var batchedStep = model.ComputeLogits(next, cache);

        foreach (var (row, prompt, nextId) in new[] { (0, shortPrompt, 11L), (1, longPrompt, 12L) })
        {
            using var singleIds = tensor(prompt.Append(nextId).ToArray());
            using var single = model.ComputeLogits(singleIds);
            using var expectedLast = single[prompt.Length - 1];
            using var expectedStep = single[prompt.Length];
            using var actualLast = batched[row, 5];
            using var actualStep = batchedStep[row, 0];
            AssertClose([.. expectedLast.data<float>().ToArray().Select(v => (double)v)], actualLast.data<float>().ToArray(), 1e-4, $"row {row} prompt");
            AssertClose([.. expectedStep.data<float>().ToArray().Select(v => (double)v)], actualStep.data<float>().ToArray(), 1e-4, $"row {row} step");
        }
    }

    [TestMethod]
    public void ForwardCallsLeaveNoTensorBehind()
    {
        using var model = TinyGpt2.CreateRandom(TinyGpt2.Config(), seed: 7);
        using var ids = tensor(Prompt.Select(i => (long)i).ToArray());
        // Let the finalizers of tensors other tests dropped run now, not in the middle of the count.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = Tensor.TotalCount;

        using (var cache = model.CreateKvCache())
        {
            for (int i = 0; i < 3; i++)
            {
                using var slice = ids[TensorIndex.Slice(i * 4, i * 4 + 4)];
                using var step = model.ComputeLogits(slice, cache);
            }
        }

        Assert.AreEqual(before, Tensor.TotalCount);
    }
}
