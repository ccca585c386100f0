using LmHead.Extensions.Decoding.Cpu;

namespace LmHead.Extensions.Tests.Decoding.Cpu;

[TestClass]
public sealed class KernelParallelTests
{
    [TestMethod]
    public void RunsEveryItemExactlyOnceInEveryLoop()
    {
        foreach (int count in new[] { 1, 2, 3, 24, 97, 1000 })
        {
            for (int repeat = 0; repeat < 50; repeat++)
            {
                var runs = new int[count];
                KernelParallel.For(count, i => Interlocked.Increment(ref runs[i]));
                CollectionAssert.AreEqual(Enumerable.Repeat(1, count).ToArray(), runs, $"count {count}, repeat {repeat}");
            }
        }
    }

    [TestMethod]
    public void RethrowsAnItemsExceptionAndRunsTheOtherItems()
    {
        var runs = new int[40];
        var error = Assert.ThrowsExactly<InvalidOperationException>(() => KernelParallel.For(runs.Length, i =>
        {
            Interlocked.Increment(ref runs[i]);
            if (i == 17)
            {
                throw new InvalidOperationException("item 17");
            }
        }));
        Assert.AreEqual("item 17", error.Message);
        CollectionAssert.AreEqual(Enumerable.Repeat(1, runs.Length).ToArray(), runs);

        // The workers are free again afterwards.
        int total = 0;
        KernelParallel.For(64, _ => Interlocked.Increment(ref total));
        Assert.AreEqual(64, total);
    }

    [TestMethod]
    public void NestedAndConcurrentLoopsEachRunAllTheirItems()
    {
        const int outer = 8, inner = 33;
        var runs = new int[4, outer, inner];
        Parallel.For(0, 4, caller =>
        {
            for (int repeat = 0; repeat < 20; repeat++)
            {
                KernelParallel.For(outer, o => KernelParallel.For(inner, i => Interlocked.Increment(ref runs[caller, o, i])));
            }
        });

        foreach (int value in runs)
        {
            Assert.AreEqual(20, value);
        }
    }
}
