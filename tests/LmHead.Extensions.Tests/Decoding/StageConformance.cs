using LmHead.Extensions.Decoding;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Decoding;

/// <summary>Checks every <see cref="ILogitsStage"/> the same way: shape, dtype, input untouched, batch = rows, bad input, no leaks.</summary>
internal static class StageConformance
{
    public static void Check(ILogitsStage stage)
    {
        var random = new Random(7);
        float[][] rows = [.. Enumerable.Range(0, 4).Select(_ => Reference.RandomLogits(random, 23))];

        using (var batch = rows.ToTensor())
        {
            var copy = batch.ToFloats();
            using var output = stage.Apply(batch);
            CollectionAssert.AreEqual(new long[] { 4, 23 }, output.shape, "batch shape");
            Assert.AreEqual(ScalarType.Float32, output.dtype);
            CollectionAssert.AreEqual(copy, batch.ToFloats(), "the input must not be modified");

            var batchValues = output.ToFloats();
            for (int r = 0; r < rows.Length; r++)
            {
                using var row = rows[r].ToTensor();
                using var single = stage.Apply(row);
                CollectionAssert.AreEqual(new long[] { 23 }, single.shape, "row shape");
                CollectionAssert.AreEqual(single.ToFloats(), batchValues.Skip(r * 23).Take(23).ToArray(), $"batch row {r} equals the row alone");
            }
        }

        foreach (var dtype in new[] { ScalarType.Float64, ScalarType.Float16, ScalarType.BFloat16 })
        {
            using var typed = rows[0].ToTensor().to_type(dtype);
            using var output = stage.Apply(typed);
            Assert.AreEqual(dtype, output.dtype, $"dtype {dtype} is kept");
        }

        using (var matrix3d = zeros(2, 2, 2))
        {
            Assert.Throws<ArgumentException>(() => stage.Apply(matrix3d).Dispose(), "rank 3 is rejected");
        }

        using (var ints = ones(5, ScalarType.Int64))
        {
            var ex = Assert.Throws<ArgumentException>(() => stage.Apply(ints).Dispose());
            StringAssert.Contains(ex.Message, "floating-point");
        }

        Assert.Throws<ArgumentNullException>(() => stage.Apply(null!).Dispose());

        using var input = rows.ToTensor();
        TensorTestExtensions.AssertNoTensorLeak(10_000, () => stage.Apply(input).Dispose());
    }
}
