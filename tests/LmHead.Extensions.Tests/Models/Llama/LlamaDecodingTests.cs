using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Models.Llama;

/// <summary>Cached decoding, left-padded batches and the ragged batched step, each against the model's own full recompute.</summary>
[TestClass]
public sealed class LlamaDecodingTests
{
    private const double Tolerance = 1e-5;

    [TestMethod]
    public void CachedDecodingEqualsRecompute()
    {
        using var model = TinyLlama.CreateRandom(TinyLlama.Qwen2(), seed: 3);
        int[] ids = [4, 9, 13, 27, 31, 50, 2, 77, 64, 5, 18];
        using var cache = model.CreateKvCache();
        using (var prefill = model.ComputeLogits(tensor(ids[..5], ScalarType.Int64), cache))
        {
            AssertRowClose(LastRow(model, ids[..5]), prefill[4], "prefill");
        }

        for (int n = 5; n < ids.Length; n++)
        {
            using var step = model.ComputeLogits(tensor(ids[n..(n + 1)], ScalarType.Int64), cache);
            AssertRowClose(LastRow(model, ids[..(n + 1)]), step[0], $"step at position {n}");
        }

        Assert.AreEqual(ids.Length, cache.Length);
    }

    [TestMethod]
    public void LeftPaddedBatchEqualsEachSequenceAlone()
    {
        using var model = TinyLlama.CreateRandom(TinyLlama.Llama3Scaled(), seed: 4);
        int[] longer = [5, 6, 7, 8, 9, 10, 11], shorter = [20, 21, 22, 23];
        long[] batch = [.. longer, 0, 0, 0, .. shorter];
        long[] mask = [1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1];
        using var scope = NewDisposeScope();
        using var cache = model.CreateKvCache();
        var logits = model.ComputeLogits(tensor(batch).view(2, 7), cache, tensor(mask).view(2, 7));
        AssertRowClose(LastRow(model, longer), logits[0, 6], "longer row");
        AssertRowClose(LastRow(model, shorter), logits[1, 6], "padded row");

        // One more token per row through the same cache: positions continue from each row's real length.
        var next = model.ComputeLogits(tensor(new long[] { 30, 31 }).view(2, 1), cache);
        AssertRowClose(LastRow(model, [.. longer, 30]), next[0, 0], "longer row, cached step");
        AssertRowClose(LastRow(model, [.. shorter, 31]), next[1, 0], "padded row, cached step");
    }

    [TestMethod]
    public void RaggedBatchedStepEqualsEachSequenceAlone()
    {
        using var model = TinyLlama.CreateRandom(TinyLlama.Mistral(), seed: 6);
        using var scope = NewDisposeScope();
        using var a = model.CreateKvCache();
        using var b = model.CreateKvCache();
        using var c = model.CreateKvCache();
        model.ComputeHiddenStates(tensor(new long[] { 3, 4, 5 }), a);
        model.ComputeHiddenStates(tensor(new long[] { 7 }), b);
        var hidden = model.ComputeLastHiddenStates([a, b, c], [[6], [8], [9, 10, 11, 12]]);
        using var head = model.GetOutputEmbeddings();
        int[][] full = [[3, 4, 5, 6], [7, 8], [9, 10, 11, 12]];
        for (int i = 0; i < full.Length; i++)
        {
            var solo = model.ComputeHiddenStates(tensor(full[i], ScalarType.Int64));
            double worst = solo[solo.shape[0] - 1].sub(hidden[i]).abs().max().item<float>();
            Assert.IsTrue(worst <= Tolerance, $"sequence {i}: max |batched - alone| = {worst:e3}");
        }

        Assert.AreEqual(4, a.Length);
        Assert.AreEqual(2, b.Length);
        Assert.AreEqual(4, c.Length);
        Assert.AreEqual(model.Config.HiddenSize, head.HiddenSize);
    }

    [TestMethod]
    [DataRow(ScalarType.Float32)]
    [DataRow(ScalarType.BFloat16)]
    public void ManagedDecodeStepMatchesTheLibtorchStep(ScalarType dtype)
    {
        using var model = TinyLlama.CreateRandom(TinyLlama.LlamaWithBias() with { KeyValueHeadCount = 2 }, seed: 10, dtype);
        using var scope = NewDisposeScope();
        long[] prompt = [5, 6, 7, 0, 0, 20, 21, 22];
        long[] mask = [1, 1, 1, 0, 0, 1, 1, 1];
        using var managed = model.CreateKvCache();
        using var torch = model.CreateKvCache();
        model.ComputeHiddenStates(tensor(prompt).view(2, 4), managed, tensor(mask).view(2, 4));
        model.ComputeHiddenStates(tensor(prompt).view(2, 4), torch, tensor(mask).view(2, 4));
        for (int step = 0; step < 4; step++)
        {
            var next = tensor(new long[] { 30 + step, 40 + step }).view(2, 1);
            var fast = model.ComputeLogits(next, managed);
            model.UseManagedDecodeStep = false;
            var slow = model.ComputeLogits(next, torch);
            model.UseManagedDecodeStep = true;
            double worst = fast.sub(slow).abs().max().item<float>();
            Assert.IsTrue(worst <= Tolerance, $"step {step}: max |managed - libtorch| = {worst:e3}");
        }
    }

    [TestMethod]
    public void CacheStorageIsPreallocatedNotGrownPerToken()
    {
        using var model = TinyLlama.CreateRandom(TinyLlama.Llama(), seed: 8);
        using var cache = model.CreateKvCache();
        using (model.ComputeHiddenStates(tensor(new long[] { 1, 2 }), cache))
        {
        }

        int capacity = cache.Capacity;
        var storage = cache.Keys(0);
        for (int i = 0; i < 10; i++)
        {
            using var step = model.ComputeHiddenStates(tensor(new long[] { 3 }), cache);
        }

        Assert.AreEqual(capacity, cache.Capacity);
        Assert.AreSame(storage, cache.Keys(0), "steps within the capacity write into the same storage");
        Assert.AreEqual(model.Config.EffectiveKeyValueHeadCount, (int)storage.shape[1], "the cache holds key/value heads, not query heads");
    }

    [TestMethod]
    public void SlidingWindowBelowTheContextLimitsTheContext()
    {
        var config = TinyLlama.Mistral() with { SlidingWindow = 8 };
        using var model = new LlamaModel(config);
        Assert.AreEqual(8, model.ContextLength);
        var error = Assert.ThrowsExactly<ArgumentException>(() => model.ComputeLogits(zeros(9, ScalarType.Int64)));
        StringAssert.Contains(error.Message, "sliding_window");
        Assert.AreEqual(64, new LlamaModel(TinyLlama.Qwen2() with { SlidingWindow = 8, UseSlidingWindow = false }).ContextLength,
            "Qwen2 ignores sliding_window unless use_sliding_window is set");
    }

    private static Tensor LastRow(CausalLanguageModel model, int[] ids)
    {
        using var logits = model.ComputeLogits(tensor(ids, ScalarType.Int64));
        return logits[logits.shape[0] - 1].clone();
    }

    private static void AssertRowClose(Tensor expected, Tensor actual, string what)
    {
        using var scope = NewDisposeScope();
        double worst = expected.sub(actual).abs().max().item<float>();
        Assert.IsTrue(worst <= Tolerance, $"{what}: max |cached - recomputed| = {worst:e3}");
    }
}
