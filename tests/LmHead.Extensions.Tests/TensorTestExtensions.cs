using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests;

internal static class TensorTestExtensions
{
    public static float[] ToFloats(this Tensor tensor) => tensor.to_type(ScalarType.Float32).cpu().data<float>().ToArray();

    public static Tensor ToTensor(this float[] values) => tensor(values);

    public static Tensor ToTensor(this float[][] rows) =>
        tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, rows[0].Length]);

    /// <summary>
    /// Asserts that running <paramref name="action"/> leaves no tensor alive: nothing it creates outlives it in a
    /// surrounding dispose scope, and the process-wide live-tensor count does not grow (garbage from earlier tests is
    /// finalised first; some can only be finalised once another finaliser has run, and a model that ML.NET's background
    /// threads still reference may be released later, during the loop: a count that drops is not this action's leak,
    /// while a leak would add at least one tensor per iteration).
    /// </summary>
    public static void AssertNoTensorLeak(int iterations, Action action)
    {
        action(); // warm-up: lazily created statics are not leaks
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        long before = Tensor.TotalCount;
        using (var scope = NewDisposeScope())
        {
            for (int i = 0; i < iterations; i++)
            {
                action();
            }

            Assert.AreEqual(0, scope.DisposablesCount, $"tensors left undisposed after {iterations} runs");
        }

        long after = Tensor.TotalCount;
        Assert.IsLessThanOrEqualTo(before, after, $"live tensors grew over {iterations} runs: {before} before, {after} after");
    }
}
