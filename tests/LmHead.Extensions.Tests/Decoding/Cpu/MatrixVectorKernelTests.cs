using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Cpu;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Decoding.Cpu;

[TestClass]
public sealed class MatrixVectorKernelTests
{
    private static float[,] RandomMatrix(Random random, int rows, int columns)
    {
        var weight = new float[rows, columns];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < columns; j++)
            {
                weight[i, j] = (float)(random.NextDouble() * 2 - 1);
            }
        }

        return weight;
    }

    [TestMethod]
    [DataRow(1, 1)]
    [DataRow(7, 13)]
    [DataRow(4101, 37)]
    [DataRow(2050, 768)]
    [DataRow(3, 8)]
    public unsafe void MatchesPlainLoopsForAnyRowAndColumnCount(int rows, int columns)
    {
        var random = new Random(rows * 31 + columns);
        var weight = RandomMatrix(random, rows, columns);
        var hidden = Reference.RandomLogits(random, columns, 1f);
        var bias = Reference.RandomLogits(random, rows, 1f);
        var output = new float[rows];
        fixed (float* w = weight)
        fixed (float* h = hidden)
        fixed (float* b = bias)
        fixed (float* y = output)
        {
            MatrixVectorKernel.Multiply((nint)w, MatrixVectorKernel.WeightFormat.Float32, rows, columns, (nint)h, (nint)b, (nint)y);
        }

        Reference.AssertClose(Reference.Project(weight, bias, hidden), output, 1e-5f * Math.Max(1, columns / 64f), "y");
    }

    [TestMethod]
    [DataRow(ScalarType.Float32, 1e-5f)]
    [DataRow(ScalarType.Float16, 2e-3f)]
    [DataRow(ScalarType.BFloat16, 1e-2f)]
    public void TheProjectorsKernelMatchesExactArithmeticOnTheStoredWeights(ScalarType dtype, float tolerance)
    {
        using var weight = randn(1030, 77, generator: new Generator(6)).to_type(dtype);
        using var bias = randn(1030, generator: new Generator(7)).to_type(dtype);
        using var hidden = randn(77, generator: new Generator(8));
        using var torchPath = new LogitsProjector(weight, bias) { UseSimdKernel = false };
        using var kernelPath = new LogitsProjector(weight, bias) { UseSimdKernel = true };
        using var torchLogits = torchPath.Project(hidden);
        using var actual = kernelPath.Project(hidden);
        Assert.AreEqual(dtype, actual.dtype);
        CollectionAssert.AreEqual(torchLogits.shape, actual.shape);

        // torch rounds the hidden state to the weight's dtype first; the kernel keeps it in float32 and accumulates in
        // float32, so it is compared with exact arithmetic on the stored weights, rounded once to the output dtype.
        var stored = weight.ToFloats();
        var matrix = new float[1030, 77];
        Buffer.BlockCopy(stored, 0, matrix, 0, stored.Length * sizeof(float));
        var expected = Reference.Project(matrix, bias.ToFloats(), hidden.ToFloats());
        Reference.AssertClose(expected, actual.ToFloats(), tolerance, dtype.ToString());

        using var row = hidden.unsqueeze(0);
        using var batched = kernelPath.Project(row);
        CollectionAssert.AreEqual(new long[] { 1, 1030 }, batched.shape);
    }

    [TestMethod]
    public void WidensEveryFloat16BitPatternExactly()
    {
        var bits = new ushort[65536];
        for (int i = 0; i < bits.Length; i++)
        {
            bits[i] = (ushort)i;
        }

        for (int i = 0; i < bits.Length; i += 8)
        {
            var wide = HalfWidening.Widen(System.Runtime.Intrinsics.Vector128.Create(bits.AsSpan(i, 8)), brain: false);
            for (int lane = 0; lane < 8; lane++)
            {
                float expected = (float)BitConverter.UInt16BitsToHalf(bits[i + lane]);
                float actual = wide[lane];
                Assert.IsTrue(expected.Equals(actual) || (float.IsNaN(expected) && float.IsNaN(actual)), $"0x{i + lane:X4}: {expected} vs {actual}");
            }
        }
    }
}
