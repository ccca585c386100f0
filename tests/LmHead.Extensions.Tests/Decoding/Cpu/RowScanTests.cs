using LmHead.Extensions.Decoding.Cpu;

namespace LmHead.Extensions.Tests.Decoding.Cpu;

[TestClass]
public sealed class RowScanTests
{
    /// <summary>Records every value handed over and keeps the threshold, or raises it to the value itself every <c>raiseEvery</c> values.</summary>
    private struct RecordingSink(List<(float Value, int Id)> seen, int raiseEvery, float threshold) : RowScan.ISink
    {
        public float Threshold { get; private set; } = threshold;

        public float Accept(float value, int id)
        {
            seen.Add((value, id));
            if (raiseEvery > 0 && seen.Count % raiseEvery == 0)
            {
                Threshold = value;
            }

            return Threshold;
        }
    }

    [TestMethod]
    public void ScanHandsOverExactlyTheValuesAboveTheRunningThresholdInIdOrder()
    {
        var random = new Random(17);
        foreach (int n in new[] { 1, 31, 32, 33, 64, 95, 1000, 50257 })
        {
            foreach (int start in new[] { 0, Math.Min(n, 5) })
            {
                foreach (int raiseEvery in new[] { 0, 1, 7 })
                {
                    var row = Enumerable.Range(0, n).Select(_ => MathF.Round((float)(random.NextDouble() * 40 - 20), 1)).ToArray();
                    float initial = raiseEvery == 0 ? 15f : float.NegativeInfinity;
                    var seen = new List<(float Value, int Id)>();
                    var sink = new RecordingSink(seen, raiseEvery, initial);

                    bool valid = RowScan.Scan(row, start, initial, ref sink, out float max);

                    // The independent computation: walk the row, with the threshold the sink set after each value.
                    var expected = new List<(float Value, int Id)>();
                    float threshold = initial;
                    for (int i = start; i < n; i++)
                    {
                        if (row[i] > threshold)
                        {
                            expected.Add((row[i], i));
                            threshold = raiseEvery > 0 && expected.Count % raiseEvery == 0 ? row[i] : threshold;
                        }
                    }

                    string what = $"n = {n}, start {start}, raise every {raiseEvery}";
                    Assert.IsTrue(valid, what);
                    CollectionAssert.AreEqual(expected, seen, what);
                    Assert.AreEqual(start < n ? row.Skip(start).Max() : float.NegativeInfinity, max, what);
                }
            }
        }
    }

    [TestMethod]
    public void ScanRejectsNaNAtEveryPosition()
    {
        foreach (int n in new[] { 1, 32, 33, 100 })
        {
            for (int at = 0; at < n; at++)
            {
                var row = Enumerable.Range(0, n).Select(i => (float)i).ToArray();
                row[at] = float.NaN;
                var sink = new RecordingSink([], 0, float.PositiveInfinity);

                Assert.IsFalse(RowScan.Scan(row, 0, float.PositiveInfinity, ref sink, out _), $"NaN at {at} of {n}");
            }
        }
    }
}
