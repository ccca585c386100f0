using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Cpu;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Decoding.Cpu;

[TestClass]
public sealed class MatrixVectorKernelTests
{
    [TestMethod]
    [DataRow(ScalarType.Float32, 1, 1, true)]
    [DataRow(ScalarType.Float32, 7, 13, false)]
    [DataRow(ScalarType.Float32, 4101, 37, true)]
    [DataRow(ScalarType.Float32, 2050, 768, false)]
    [DataRow(ScalarType.Float32, 1027, 803, true)]
    [DataRow(ScalarType.Float16, 1, 1, false)]
    [DataRow(ScalarType.Float16, 7, 13, true)]
    [DataRow(ScalarType.Float16, 4101, 37, false)]
    [DataRow(ScalarType.Float16, 2050, 768, true)]
    [DataRow(ScalarType.Float16, 1027, 803, false)]
    [DataRow(ScalarType.BFloat16, 3, 8, true)]
    [DataRow(ScalarType.BFloat16, 7, 13, false)]
    [DataRow(ScalarType.BFloat16, 4101, 37, true)]
    [DataRow(ScalarType.BFloat16, 2050, 768, false)]
    [DataRow(ScalarType.BFloat16, 1027, 803, true)]
    public void MatchesPlainLoopsForEveryFormatAndShape(ScalarType dtype, int rows, int columns, bool withBias)
    {
        var random = new Random(rows * 31 + columns);
        var weight = Stored(dtype, Reference.RandomLogits(random, rows * columns, 1f));
        var hidden = Reference.RandomLogits(random, columns, 2f);
        var bias = withBias ? Stored(dtype, Reference.RandomLogits(random, rows, 1f)) : null;

        foreach (var width in Widths)
        {
            var output = Multiply(weight, dtype, rows, columns, hidden, bias, ScalarType.Float32, width);

            AssertMatchesPlainLoop(dtype, weight, bias, hidden, output, rows, columns, roundedTo: ScalarType.Float32);
        }
    }

    [TestMethod]
    [DataRow(ScalarType.Float32, 1030, 77)]
    [DataRow(ScalarType.Float16, 1030, 77)]
    [DataRow(ScalarType.Float16, 2051, 96)]
    [DataRow(ScalarType.BFloat16, 1030, 77)]
    [DataRow(ScalarType.BFloat16, 2051, 96)]
    public void RoundsTheOutputOnceWhenItIsInTheWeightsFormat(ScalarType dtype, int rows, int columns)
    {
        var random = new Random(rows + columns);
        var weight = Stored(dtype, Reference.RandomLogits(random, rows * columns, 1f));
        var hidden = Reference.RandomLogits(random, columns, 2f);
        var bias = Stored(dtype, Reference.RandomLogits(random, rows, 1f));

        foreach (var width in Widths)
        {
            var output = Multiply(weight, dtype, rows, columns, hidden, bias, dtype, width);

            AssertMatchesPlainLoop(dtype, weight, bias, hidden, output, rows, columns, roundedTo: dtype);
        }
    }

    [TestMethod]
    [DataRow(1f)]
    [DataRow(-0.75f)]
    [DataRow(131072f)]
    public void ReadsEveryFloat16BitPatternExactly(float hiddenValue)
    {
        // Row i holds bit pattern i in column i % 40 (the vector part or the scalar tail) and zeros elsewhere, so with a
        // constant hidden state the exact result is the widened value times that constant. |h| >= 2^16 takes the exactly
        // widened path, smaller values the prescaled one; rows with an infinity or NaN must give infinity or NaN either way.
        const int columns = 40;
        var bits = new float[65536 * columns];
        for (int i = 0; i < 65536; i++)
        {
            bits[i * columns + i % columns] = i;
        }

        var hidden = Enumerable.Repeat(hiddenValue, columns).ToArray();

        foreach (var width in Widths)
        {
            var output = Multiply(bits, ScalarType.Float16, 65536, columns, hidden, null, ScalarType.Float32, width);

            for (int i = 0; i < 65536; i++)
            {
                float expected = (float)BitConverter.UInt16BitsToHalf((ushort)i) * hiddenValue;
                Assert.IsTrue(expected.Equals(output[i]), $"{width} 0x{i:X4}: expected {expected}, got {output[i]}");
            }
        }
    }

    [TestMethod]
    [DataRow(ScalarType.Float32)]
    [DataRow(ScalarType.BFloat16)]
    public void TheProjectorsKernelReadsTheBiasAtEveryCall(ScalarType dtype)
    {
        // The projector shares the bias's storage, so a bias changed in place (training, a loaded checkpoint) must show.
        using var weight = randn(1030, 64, generator: new Generator(9)).to_type(dtype);
        using var bias = zeros(1030, dtype);
        using var hidden = randn(64, generator: new Generator(10));
        using var projector = new LogitsProjector(weight, bias) { UseSimdKernel = true };
        using var before = projector.Project(hidden);

        bias.fill_(2f);
        using var after = projector.Project(hidden);

        var expected = before.ToFloats().Select(v => v + 2f).ToArray();
        Reference.AssertClose(expected, after.ToFloats(), dtype == ScalarType.Float32 ? 1e-5f : 1e-2f, "logits after the bias changed");
    }

    /// <summary>Stores values in a format: float32 as is, float16 and bfloat16 as bit patterns held in the float array.</summary>
    private static float[] Stored(ScalarType dtype, float[] values) => dtype switch
    {
        ScalarType.Float16 => [.. values.Select(v => (float)BitConverter.HalfToUInt16Bits((Half)v))],
        ScalarType.BFloat16 => [.. values.Select(v => (float)(BitConverter.SingleToUInt32Bits(v) >> 16))],
        _ => values,
    };

    /// <summary>The value a stored element stands for, widened by the BCL (independent of the kernel's vector code).</summary>
    private static double Value(ScalarType dtype, float stored) => dtype switch
    {
        ScalarType.Float16 => (double)BitConverter.UInt16BitsToHalf((ushort)stored),
        ScalarType.BFloat16 => BitConverter.UInt32BitsToSingle((uint)stored << 16),
        _ => stored,
    };

    /// <summary>Both code paths: 64-byte vectors where the CPU has AVX-512 (the same as the other otherwise) and 32-byte ones.</summary>
    private static readonly MatrixVectorKernel.VectorWidth[] Widths = [MatrixVectorKernel.VectorWidth.Widest, MatrixVectorKernel.VectorWidth.Vector256];

    private static unsafe float[] Multiply(
        float[] weight, ScalarType dtype, int rows, int columns, float[] hidden, float[]? bias, ScalarType outputType, MatrixVectorKernel.VectorWidth width)
    {
        var format = Format(dtype);
        var vectorFormat = Format(outputType);
        bool half = dtype != ScalarType.Float32;
        ushort[] Bits(float[] values) => [.. values.Select(v => (ushort)v)];
        var weightBits = half ? Bits(weight) : [];
        var biasBits = half && bias is not null && outputType != ScalarType.Float32 ? Bits(bias) : [];
        var singleBias = bias is not null && outputType == ScalarType.Float32 ? [.. bias.Select(b => (float)Value(dtype, b))] : Array.Empty<float>();
        var output = new float[rows];
        var halfOutput = new ushort[rows];
        fixed (float* w32 = weight)
        fixed (ushort* w16 = weightBits)
        fixed (float* h = hidden)
        fixed (float* b32 = singleBias)
        fixed (ushort* b16 = biasBits)
        fixed (float* y32 = output)
        fixed (ushort* y16 = halfOutput)
        {
            nint b = bias is null ? 0 : vectorFormat == MatrixVectorKernel.WeightFormat.Float32 ? (nint)b32 : (nint)b16;
            nint y = vectorFormat == MatrixVectorKernel.WeightFormat.Float32 ? (nint)y32 : (nint)y16;
            MatrixVectorKernel.Multiply(half ? (nint)w16 : (nint)w32, format, rows, columns, (nint)h, b, y, vectorFormat, width: width);
        }

        return outputType == ScalarType.Float32 ? output : [.. halfOutput.Select(bits => (float)Value(outputType, bits))];
    }

    private static MatrixVectorKernel.WeightFormat Format(ScalarType dtype) => dtype switch
    {
        ScalarType.Float16 => MatrixVectorKernel.WeightFormat.Float16,
        ScalarType.BFloat16 => MatrixVectorKernel.WeightFormat.BFloat16,
        _ => MatrixVectorKernel.WeightFormat.Float32,
    };

    /// <summary>
    /// Compares with a double-precision loop over the stored values: float32 accumulation may differ by a few units of
    /// 1e-6 of the sum of |w·h| terms; a half-precision output may also land one rounding step away.
    /// </summary>
    private static void AssertMatchesPlainLoop(ScalarType dtype, float[] weight, float[]? bias, float[] hidden, float[] actual, int rows, int columns, ScalarType roundedTo)
    {
        for (int i = 0; i < rows; i++)
        {
            double sum = bias is null ? 0 : Value(dtype, bias[i]);
            double magnitude = Math.Abs(sum);
            for (int j = 0; j < columns; j++)
            {
                double term = Value(dtype, weight[i * columns + j]) * hidden[j];
                sum += term;
                magnitude += Math.Abs(term);
            }

            double step = roundedTo switch
            {
                ScalarType.Float16 => Math.Abs(sum) / 1024 + 6e-8,
                ScalarType.BFloat16 => Math.Abs(sum) / 128,
                _ => 0,
            };
            Assert.AreEqual(sum, actual[i], (2e-5 * magnitude) + step + 1e-30, $"row {i} of {rows} x {columns}");
        }
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
                bool same = float.IsNaN(expected) ? float.IsNaN(actual) : BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual);
                Assert.IsTrue(same, $"0x{i + lane:X4}: {expected} vs {actual}");
            }
        }
    }
}
