using LmHead.Extensions.Models;
using LmHead.Extensions.Tests.Models.Llama;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Models;

/// <summary>
/// The cache's storage is allocated uninitialised, so no forward path may read a position it has not written: every
/// position past <see cref="KvCache.Length"/> is filled with NaN between calls, and the results must not change by a bit.
/// </summary>
[TestClass]
public sealed class KvCacheTests
{
    /// <summary>70 tokens: the storage grows from 64 positions to 128 during the one-token steps.</summary>
    private static readonly int[] Ids = [.. Enumerable.Range(0, 70).Select(i => ((i * 13) + 5) % 97)];

    private static void Poison(KvCache cache)
    {
        if (cache.Capacity <= cache.Length)
        {
            return;
        }

        for (int layer = 0; layer < cache.LayerCount; layer++)
        {
            using var keys = cache.Keys(layer).narrow(2, cache.Length, cache.Capacity - cache.Length);
            using var values = cache.Values(layer).narrow(2, cache.Length, cache.Capacity - cache.Length);
            keys.fill_(float.NaN);
            values.fill_(float.NaN);
        }
    }

    private static byte[] Bits(Tensor t)
    {
        using var c = t.contiguous();
        return c.bytes.ToArray();
    }

    /// <summary>Logits of a 5-token prefill, then of one-token steps, through one cache.</summary>
    private static List<byte[]> Stepped(CausalLanguageModel model, bool poison)
    {
        using var cache = model.CreateKvCache();
        var outputs = new List<byte[]>();
        using (var prefix = tensor(Ids.Take(5).Select(i => (long)i).ToArray()))
        using (var logits = model.ComputeLogits(prefix, cache))
        {
            outputs.Add(Bits(logits));
        }

        foreach (int id in Ids.Skip(5))
        {
            if (poison)
            {
                Poison(cache);
            }

            using var step = tensor(new long[] { id });
            using var logits = model.ComputeLogits(step, cache);
            outputs.Add(Bits(logits));
        }

        return outputs;
    }

    /// <summary>Hidden states of three sequences in the scheduler's batched call: prompts of 3, 7 and 12 tokens, then one-token steps.</summary>
    private static List<byte[]> Batched(CausalLanguageModel model, bool poison)
    {
        var caches = Enumerable.Range(0, 3).Select(_ => model.CreateKvCache()).ToArray();
        try
        {
            var outputs = new List<byte[]>();
            int[][] prompts = [Ids[..3], Ids[..7], Ids[..12]];
            using (var hidden = model.ComputeLastHiddenStates(caches, prompts))
            {
                outputs.Add(Bits(hidden));
            }

            for (int t = 12; t < Ids.Length - 12; t++)
            {
                if (poison)
                {
                    foreach (var cache in caches)
                    {
                        Poison(cache);
                    }
                }

                using var hidden = model.ComputeLastHiddenStates(caches, [[Ids[t]], [Ids[t + 1]], [Ids[t + 2]]]);
                outputs.Add(Bits(hidden));
            }

            return outputs;
        }
        finally
        {
            foreach (var cache in caches)
            {
                cache.Dispose();
            }
        }
    }

    private static void AssertSame(List<byte[]> expected, List<byte[]> actual, string path)
    {
        Assert.HasCount(expected.Count, actual);
        for (int i = 0; i < expected.Count; i++)
        {
            CollectionAssert.AreEqual(expected[i], actual[i], $"{path}, call {i}");
        }
    }

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void Gpt2NeverReadsAPositionPastTheWrittenLength(bool managed)
    {
        var config = TinyGpt2.Config(vocabularySize: 97) with { MaxPositions = 128 };
        using var model = TinyGpt2.CreateRandom(config, seed: 31);
        model.UseManagedDecodeStep = managed;

        AssertSame(Stepped(model, poison: false), Stepped(model, poison: true), "one cache");
        AssertSame(Batched(model, poison: false), Batched(model, poison: true), "batched caches");
    }

    [TestMethod]
    public void Gpt2WithLeftPaddingNeverReadsAPositionPastTheWrittenLength()
    {
        var config = TinyGpt2.Config(vocabularySize: 97) with { MaxPositions = 128 };
        using var model = TinyGpt2.CreateRandom(config, seed: 32);

        List<byte[]> Run(bool poison)
        {
            using var cache = model.CreateKvCache();
            var outputs = new List<byte[]>();
            using (var prompt = tensor(new long[] { 0, 0, 0, 4, 9, 16, 25, 36, 49, 64, 81, 3, 8, 15 }).view(2, 7))
            using (var mask = tensor(new long[] { 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 }).view(2, 7))
            using (var logits = model.ComputeLogits(prompt, cache, mask))
            {
                outputs.Add(Bits(logits));
            }

            for (int t = 0; t < 64; t++)
            {
                if (poison)
                {
                    Poison(cache);
                }

                using var step = tensor(new long[] { Ids[t], Ids[t + 1] }).view(2, 1);
                using var logits = model.ComputeLogits(step, cache);
                outputs.Add(Bits(logits));
            }

            return outputs;
        }

        AssertSame(Run(poison: false), Run(poison: true), "left-padded batch cache");
    }

    [TestMethod]
    public void LlamaNeverReadsAPositionPastTheWrittenLength()
    {
        var config = TinyLlama.Llama() with { MaxPositions = 128 };
        using var model = TinyLlama.CreateRandom(config, seed: 33);

        AssertSame(Stepped(model, poison: false), Stepped(model, poison: true), "one cache");
        AssertSame(Batched(model, poison: false), Batched(model, poison: true), "batched caches");
    }

    [TestMethod]
    public void GrowingKeepsEveryWrittenPosition()
    {
        // 64 positions, then 65: the storage doubles and must hold the first 64 exactly as before.
        var config = TinyGpt2.Config(vocabularySize: 97) with { MaxPositions = 128 };
        using var model = TinyGpt2.CreateRandom(config, seed: 34);
        using var cache = model.CreateKvCache();
        using (var prompt = tensor(Ids.Take(64).Select(i => (long)i).ToArray()))
        using (model.ComputeLogits(prompt, cache))
        {
        }

        Assert.AreEqual(64, cache.Capacity);
        var before = Enumerable.Range(0, cache.LayerCount).Select(layer =>
        {
            using var keys = cache.Keys(layer).narrow(2, 0, 64);
            using var values = cache.Values(layer).narrow(2, 0, 64);
            return (Bits(keys), Bits(values));
        }).ToArray();

        using (var step = tensor(new long[] { 7 }))
        using (model.ComputeLogits(step, cache))
        {
        }

        Assert.AreEqual(128, cache.Capacity);
        for (int layer = 0; layer < cache.LayerCount; layer++)
        {
            using var keys = cache.Keys(layer).narrow(2, 0, 64);
            using var values = cache.Values(layer).narrow(2, 0, 64);
            CollectionAssert.AreEqual(before[layer].Item1, Bits(keys), $"keys of layer {layer}");
            CollectionAssert.AreEqual(before[layer].Item2, Bits(values), $"values of layer {layer}");
        }
    }
}
