using LmHead.Extensions.Models;
using LmHead.Extensions.Tests.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Generation;

/// <summary>
/// What the scheduler relies on from <see cref="Gpt2Model.ComputeLastHiddenStates"/>: row i is sequence i's last hidden
/// state exactly as a single-sequence call gives it, whatever else is in the batch, and bad arguments are rejected
/// before any cache moves.
/// </summary>
[TestClass]
public sealed class LastHiddenStatesContractTests
{
    [TestMethod]
    public void EachRowEqualsTheSingleSequenceCallWhateverElseRuns()
    {
        using var model = TinyGpt2.CreateRandom(TinyGpt2.Config(), seed: 11);
        int[][] prompts = [[1, 2, 3], [7], [4, 5, 6, 7, 8, 9, 10], [12, 13]];
        var caches = prompts.Select(_ => model.CreateKvCache()).ToArray();
        var alone = prompts.Select(_ => model.CreateKvCache()).ToArray();
        var history = prompts.Select(_ => new List<int>()).ToArray();
        try
        {
            // Two steps: the prompts (ragged), then one token each at different positions.
            foreach (int[][] step in new[] { prompts, prompts.Select((p, i) => new[] { 20 + i }).ToArray() })
            {
                using var batched = model.ComputeLastHiddenStates(caches, step);
                Assert.AreEqual(prompts.Length, (int)batched.shape[0]);
                for (int i = 0; i < step.Length; i++)
                {
                    using var single = model.ComputeLastHiddenStates([alone[i]], [step[i]]);
                    using var last = single[0];
                    using var row = batched[i];
                    CollectionAssert.AreEqual(last.data<float>().ToArray(), row.data<float>().ToArray(), $"sequence {i}");
                    history[i].AddRange(step[i]);
                    using var ids = tensor(history[i].Select(t => (long)t).ToArray());
                    using var full = model.ComputeHiddenStates(ids);
                    using var recomputed = full[-1];
                    float worst = recomputed.data<float>().ToArray().Zip(row.data<float>().ToArray(), (a, b) => Math.Abs(a - b)).Max();
                    Assert.IsLessThan(1e-4f, worst, $"sequence {i}: the cached batched step vs a full recompute on the libtorch path");
                }
            }

            CollectionAssert.AreEqual(prompts.Select(p => p.Length + 1).ToArray(), caches.Select(c => c.Length).ToArray());
        }
        finally
        {
            foreach (var cache in caches.Concat(alone))
            {
                cache.Dispose();
            }
        }
    }

    [TestMethod]
    public void BadArgumentsAreRejectedBeforeAnyCacheMoves()
    {
        using var model = TinyGpt2.CreateRandom(TinyGpt2.Config(), seed: 12);
        using var a = model.CreateKvCache();
        using var b = model.CreateKvCache();

        Assert.AreEqual("newTokens", Assert.ThrowsExactly<ArgumentException>(() => model.ComputeLastHiddenStates([a, b], [[1]])).ParamName);
        Assert.AreEqual("newTokens", Assert.ThrowsExactly<ArgumentException>(() => model.ComputeLastHiddenStates([], [])).ParamName);
        Assert.AreEqual("newTokens", Assert.ThrowsExactly<ArgumentException>(() => model.ComputeLastHiddenStates([a, b], [[1], []])).ParamName);
        Assert.AreEqual("caches", Assert.ThrowsExactly<ArgumentException>(() => model.ComputeLastHiddenStates([a, a], [[1], [2]])).ParamName);
        Assert.AreEqual("newTokens", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => model.ComputeLastHiddenStates([a, b], [[1], [300]])).ParamName);
        var tooLong = Assert.ThrowsExactly<ArgumentException>(() => model.ComputeLastHiddenStates([a, b], [[1], [.. Enumerable.Range(0, 65)]]));
        Assert.Contains("n_positions = 64", tooLong.Message);

        Assert.AreEqual(0, a.Length, "a rejected call must leave every cache as it was");
        Assert.AreEqual(0, b.Length);
    }
}
