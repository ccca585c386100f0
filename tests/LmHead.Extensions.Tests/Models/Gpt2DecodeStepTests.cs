using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Models;

/// <summary>
/// The managed decode step (the default for cached one-token steps): equal to the plain-C# double reference and to the
/// libtorch path, bit-identical for a sequence whatever else shares its batch, and bounded in memory.
/// </summary>
[TestClass]
public sealed class Gpt2DecodeStepTests
{
    private static readonly int[] Prompt = [5, 17, 250, 3, 99, 42, 42, 0, 299, 123, 7, 64, 1, 2, 200, 150];

    /// <summary>Saves a random model whose weights are exactly representable in <paramref name="dtype"/> (in float32), so the reference sees the same weights.</summary>
    private static string FolderRepresentableIn(Gpt2Config config, ScalarType dtype, long seed)
    {
        string folder = TinyGpt2.NewFolder();
        using var model = TinyGpt2.CreateRandom(config, seed);
        using (no_grad())
        {
            foreach (var (_, parameter) in model.named_parameters())
            {
                using var rounded = parameter.to_type(dtype).to_type(ScalarType.Float32);
                parameter.copy_(rounded);
            }
        }

        Gpt2Pretrained.Save(model, folder);
        return folder;
    }

    private static float[] Floats(Tensor t)
    {
        using var f = t.to_type(ScalarType.Float32).contiguous();
        return f.data<float>().ToArray();
    }

    private static byte[] Bits(Tensor t)
    {
        using var c = t.contiguous();
        return c.bytes.ToArray();
    }

    private static double MaxDifference(double[] expected, float[] actual) => expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();

    /// <summary>Logits of the last position after a torch prefill of 4 tokens and one-token cached steps for the rest.</summary>
    private static float[][] SteppedLogits(Gpt2Model model, int[] ids, bool managed)
    {
        model.UseManagedDecodeStep = managed;
        try
        {
            using var cache = model.CreateKvCache();
            var rows = new List<float[]>();
            using (var prefix = tensor(ids.Take(4).Select(i => (long)i).ToArray()))
            using (var logits = model.ComputeLogits(prefix, cache))
            {
                for (int t = 0; t < 4; t++)
                {
                    using var row = logits[t];
                    rows.Add(Floats(row));
                }
            }

            foreach (int id in ids.Skip(4))
            {
                using var step = tensor(new long[] { id });
                using var logits = model.ComputeLogits(step, cache);
                using var row = logits[0];
                rows.Add(Floats(row));
            }

            return [.. rows];
        }
        finally
        {
            model.UseManagedDecodeStep = true;
        }
    }

    [TestMethod]
    [DataRow(ScalarType.Float32, 1e-4, 1e-4, 32)]
    [DataRow(ScalarType.Float32, 1e-4, 1e-4, 40)]
    [DataRow(ScalarType.Float16, 2e-2, 2e-2, 32)]
    [DataRow(ScalarType.BFloat16, 1.5e-1, 1.5e-1, 32)]
    public void ManagedStepsMatchTheReferenceAndTheTorchPath(ScalarType dtype, double referenceTolerance, double torchTolerance, int hiddenSize)
    {
        // Hidden size 40 (heads of 10, 120 qkv outputs) leaves columns and rows outside the kernels' 16-wide and 4-high tiles.
        var config = TinyGpt2.Config() with { HiddenSize = hiddenSize };
        string folder = FolderRepresentableIn(config, dtype, seed: 21);
        var reference = new ReferenceGpt2(folder).Logits(Prompt);
        using var model = Gpt2Pretrained.LoadModel(folder, dtype);

        var managed = SteppedLogits(model, Prompt, managed: true);
        var torchPath = SteppedLogits(model, Prompt, managed: false);

        for (int t = 4; t < Prompt.Length; t++)
        {
            double fromReference = MaxDifference(reference[t], managed[t]);
            double fromTorch = MaxDifference([.. torchPath[t].Select(v => (double)v)], managed[t]);
            Assert.IsLessThan(referenceTolerance, fromReference, $"{dtype} position {t}: managed step vs the float64 reference");
            Assert.IsLessThan(torchTolerance, fromTorch, $"{dtype} position {t}: managed step vs the libtorch step");
        }
    }

    [TestMethod]
    public void GreedyContinuationIsTheSameOnBothPaths()
    {
        using var model = TinyGpt2.CreateRandom(TinyGpt2.Config(), seed: 22);
        int[] Continue(bool managed)
        {
            model.UseManagedDecodeStep = managed;
            using var cache = model.CreateKvCache();
            var ids = new List<int>();
            using var prompt = tensor(Prompt.Take(6).Select(i => (long)i).ToArray());
            var logits = model.ComputeLogits(prompt, cache);
            for (int step = 0; step < 40; step++)
            {
                using (logits)
                using (var next = logits[-1].argmax())
                {
                    ids.Add((int)next.item<long>());
                }

                using var token = tensor(new long[] { ids[^1] });
                logits = model.ComputeLogits(token, cache);
            }

            logits.Dispose();
            model.UseManagedDecodeStep = true;
            return [.. ids];
        }

        CollectionAssert.AreEqual(Continue(managed: false), Continue(managed: true));
    }

    [TestMethod]
    [DataRow(ScalarType.Float32)]
    [DataRow(ScalarType.Float16)]
    [DataRow(ScalarType.BFloat16)]
    public void ASequenceGetsBitIdenticalHiddenStatesAloneOrBesideOthers(ScalarType dtype)
    {
        // 16 sequences at 16 different positions (prompts of 1..16 tokens), decoded 4 steps: all together, the first 7
        // together, each alone through ComputeLastHiddenStates, and each alone through ComputeHiddenStates.
        string folder = FolderRepresentableIn(TinyGpt2.Config(), dtype, seed: 23);
        using var model = Gpt2Pretrained.LoadModel(folder, dtype);
        const int Sequences = 16, Steps = 4;
        int Token(int sequence, int step) => ((sequence * 37) + (step * 11) + 3) % 300;
        int[] PromptOf(int sequence) => [.. Prompt.Take(sequence + 1).Select(id => (id + sequence) % 300)];

        byte[][][] Run(int count, Func<Gpt2KvCache[], int, Tensor> step)
        {
            var caches = Enumerable.Range(0, count).Select(_ => model.CreateKvCache()).ToArray();
            try
            {
                using (var prefill = model.ComputeLastHiddenStates(caches, [.. Enumerable.Range(0, count).Select(PromptOf)]))
                {
                }

                var states = new byte[Steps][][];
                for (int s = 0; s < Steps; s++)
                {
                    using var hidden = step(caches, s);
                    states[s] = [.. Enumerable.Range(0, count).Select(i => { using var row = hidden[i]; return Bits(row); })];
                }

                return states;
            }
            finally
            {
                foreach (var cache in caches)
                {
                    cache.Dispose();
                }
            }
        }

        var together = Run(Sequences, (caches, s) => model.ComputeLastHiddenStates(caches, [.. caches.Select((_, i) => new[] { Token(i, s) })]));
        var sevenTogether = Run(7, (caches, s) => model.ComputeLastHiddenStates(caches, [.. caches.Select((_, i) => new[] { Token(i, s) })]));
        for (int i = 0; i < Sequences; i++)
        {
            int sequence = i;
            var alone = RunAlone(model, PromptOf(sequence), [.. Enumerable.Range(0, Steps).Select(s => Token(sequence, s))], viaBatchApi: true);
            var aloneSingleApi = RunAlone(model, PromptOf(sequence), [.. Enumerable.Range(0, Steps).Select(s => Token(sequence, s))], viaBatchApi: false);
            for (int s = 0; s < Steps; s++)
            {
                CollectionAssert.AreEqual(alone[s], together[s][i], $"{dtype} sequence {i} step {s}: beside 15 others vs alone");
                CollectionAssert.AreEqual(alone[s], aloneSingleApi[s], $"{dtype} sequence {i} step {s}: ComputeLastHiddenStates vs ComputeHiddenStates");
                if (i < 7)
                {
                    CollectionAssert.AreEqual(alone[s], sevenTogether[s][i], $"{dtype} sequence {i} step {s}: beside 6 others vs alone");
                }
            }
        }
    }

    private static byte[][] RunAlone(Gpt2Model model, int[] prompt, int[] tokens, bool viaBatchApi)
    {
        // The prompt goes in as the scheduler feeds it (one managed chunk); both APIs then take the same one-token steps.
        using var cache = model.CreateKvCache();
        using (var prefill = model.ComputeLastHiddenStates([cache], [prompt]))
        {
        }

        return [.. tokens.Select(token =>
        {
            if (viaBatchApi)
            {
                using var hidden = model.ComputeLastHiddenStates([cache], [[token]]);
                using var row = hidden[0];
                return Bits(row);
            }

            using var id = tensor(new long[] { token });
            using var single = model.ComputeHiddenStates(id, cache);
            using var last = single[0];
            return Bits(last);
        })];
    }

    [TestMethod]
    [DataRow(ScalarType.Float32, 1e-4)]
    [DataRow(ScalarType.Float16, 2e-2)]
    [DataRow(ScalarType.BFloat16, 1.5e-1)]
    public void ManagedPrefillChunksMatchTheReferenceAtEveryChunkEnd(ScalarType dtype, double tolerance)
    {
        var config = TinyGpt2.Config() with { HiddenSize = 40 };
        string folder = FolderRepresentableIn(config, dtype, seed: 25);
        var reference = new ReferenceGpt2(folder).Logits(Prompt);
        using var model = Gpt2Pretrained.LoadModel(folder, dtype);
        using var projector = model.GetOutputEmbeddings();
        using var cache = model.CreateKvCache();
        int[] chunkEnds = [5, 6, 13, Prompt.Length];
        int start = 0;
        foreach (int end in chunkEnds)
        {
            // A decoding sequence beside the chunk must not change it.
            using var other = model.CreateKvCache();
            using var hidden = model.ComputeLastHiddenStates([other, cache], [[7, 8], Prompt[start..end]]);
            using var row = hidden[1];
            using var logits = projector.Project(row);
            double worst = MaxDifference(reference[end - 1], Floats(logits));
            Assert.IsLessThan(tolerance, worst, $"{dtype}: chunk [{start}, {end}) vs the float64 reference at position {end - 1}");
            start = end;
        }

        Assert.AreEqual(Prompt.Length, cache.Length);
    }

    [TestMethod]
    public void PrefillChunksBesideDecodingRowsGiveEachSequenceItsOwnRun()
    {
        using var model = TinyGpt2.CreateRandom(TinyGpt2.Config(), seed: 24);
        using var a = model.CreateKvCache();
        using var b = model.CreateKvCache();
        using var c = model.CreateKvCache();
        using (var first = model.ComputeLastHiddenStates([a, b], [[1, 2, 3], [4]]))
        {
        }

        using var mixed = model.ComputeLastHiddenStates([a, b, c], [[5], [6, 7, 8, 9], [10, 11]]);

        Assert.AreEqual(4, a.Length);
        Assert.AreEqual(5, b.Length);
        Assert.AreEqual(2, c.Length);
        int[][] sequences = [[1, 2, 3, 5], [4, 6, 7, 8, 9], [10, 11]];
        for (int i = 0; i < 3; i++)
        {
            using var ids = tensor(sequences[i].Select(t => (long)t).ToArray());
            using var full = model.ComputeHiddenStates(ids);
            using var expected = full[-1];
            using var actual = mixed[i];
            double worst = MaxDifference([.. Floats(expected).Select(v => (double)v)], Floats(actual));
            Assert.IsLessThan(1e-4, worst, $"sequence {i}: batched step vs a full recompute");
        }
    }

    [TestMethod]
    public void StepsPastTheFirstAllocationsMatchTheTorchPath()
    {
        // 200 positions: the cache storage grows 64 → 128 → 256 during managed steps and must keep what it held.
        var config = TinyGpt2.Config() with { MaxPositions = 256 };
        using var model = TinyGpt2.CreateRandom(config, seed: 25);
        int[] ids = [.. Enumerable.Range(0, 200).Select(i => ((i * 7) + 1) % 300)];

        var managed = SteppedLogits(model, ids, managed: true);
        var torchPath = SteppedLogits(model, ids, managed: false);

        foreach (int t in new[] { 63, 64, 65, 127, 128, 199 })
        {
            double worst = MaxDifference([.. torchPath[t].Select(v => (double)v)], managed[t]);
            Assert.IsLessThan(1e-4, worst, $"position {t}");
        }
    }

    [TestMethod]
    public void LongGenerationsDoNotGrowTheTensorCountOrTheCacheBeyondNPositions()
    {
        var config = TinyGpt2.Config() with { MaxPositions = 300 };
        using var model = TinyGpt2.CreateRandom(config, seed: 26);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = Tensor.TotalCount;
        long afterTen = 0;
        using (var cache = model.CreateKvCache())
        {
            for (int step = 0; step < 300; step++)
            {
                if (step == 10)
                {
                    afterTen = Tensor.TotalCount;
                }

                using var hidden = model.ComputeLastHiddenStates([cache], [[step % 300]]);
            }

            Assert.AreEqual(afterTen, Tensor.TotalCount, "tensors alive after 10 steps vs after 300");
            Assert.AreEqual(300, cache.Capacity, "capacity: 64, 128, 256, then n_positions");
        }

        Assert.AreEqual(before, Tensor.TotalCount);
    }

    [TestMethod]
    public void RejectsBadBatches()
    {
        using var model = TinyGpt2.CreateRandom(TinyGpt2.Config(), seed: 27);
        using var a = model.CreateKvCache();
        using var b = model.CreateKvCache();
        using var batched = model.CreateKvCache();
        using (var ids = tensor(new long[] { 1, 2, 3, 4 }, [2, 2]))
        using (var h = model.ComputeHiddenStates(ids, batched))
        {
        }

        var counts = Assert.ThrowsExactly<ArgumentException>(() => model.ComputeLastHiddenStates([a, b], [[1]]));
        StringAssert.Contains(counts.Message, "hold 2 and 1");
        var twice = Assert.ThrowsExactly<ArgumentException>(() => model.ComputeLastHiddenStates([a, a], [[1], [2]]));
        StringAssert.Contains(twice.Message, "caches[1] appears more than once");
        var empty = Assert.ThrowsExactly<ArgumentException>(() => model.ComputeLastHiddenStates([a], [[]]));
        StringAssert.Contains(empty.Message, "newTokens[0] is empty");
        var vocabulary = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => model.ComputeLastHiddenStates([a, b], [[1], [300]]));
        StringAssert.Contains(vocabulary.Message, "newTokens[1] holds token id 300; ids must be in [0, 300)");
        var multi = Assert.ThrowsExactly<ArgumentException>(() => model.ComputeLastHiddenStates([batched], [[1]]));
        StringAssert.Contains(multi.Message, "holds a batch of 2 sequences");
        var tooLong = Assert.ThrowsExactly<ArgumentException>(() => model.ComputeLastHiddenStates([a], [[.. Enumerable.Range(0, 65)]]));
        StringAssert.Contains(tooLong.Message, "65 positions long (0 cached + 65 new)");
        Assert.AreEqual(0, a.Length, "a rejected batch leaves the caches untouched");
    }
}
