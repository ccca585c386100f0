using LmHead.Extensions.Decoding.Cpu;
using VectorWidth = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.VectorWidth;
using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Tests.Decoding.Cpu;

[TestClass]
public sealed unsafe class BatchedMatrixKernelTests
{
    /// <summary>Random weights as stored bits (float32 bits, or float16 / bfloat16 bits in the low half) and their exact values.</summary>
    private static (byte[] Stored, double[] Values) Weights(WeightFormat format, int count, Random random)
    {
        var values = new double[count];
        var stored = new byte[count * (format == WeightFormat.Float32 ? 4 : 2)];
        for (int i = 0; i < count; i++)
        {
            float v = (float)((random.NextDouble() * 2) - 1);
            switch (format)
            {
                case WeightFormat.Float32:
                    BitConverter.TryWriteBytes(stored.AsSpan(i * 4), v);
                    values[i] = v;
                    break;
                case WeightFormat.Float16:
                    var half = (Half)v;
                    BitConverter.TryWriteBytes(stored.AsSpan(i * 2), BitConverter.HalfToUInt16Bits(half));
                    values[i] = (double)half;
                    break;
                default:
                    ushort bits = (ushort)(BitConverter.SingleToUInt32Bits(v) >> 16);
                    BitConverter.TryWriteBytes(stored.AsSpan(i * 2), bits);
                    values[i] = BitConverter.UInt32BitsToSingle((uint)bits << 16);
                    break;
            }
        }

        return (stored, values);
    }

    private static float[] Multiply(byte[] weight, WeightFormat format, int outputs, int inputs, float[] x, int batch, byte[]? bias, VectorWidth width)
    {
        var y = new float[batch * outputs];
        fixed (byte* w = weight)
        fixed (float* px = x)
        fixed (byte* b = bias)
        fixed (float* py = y)
        {
            BatchedMatrixKernel.Multiply((nint)w, format, outputs, inputs, px, batch, (nint)b, py, width);
        }

        return y;
    }

    [TestMethod]
    [DataRow("Float16")]
    [DataRow("BFloat16")]
    public void AddsEveryHalfPrecisionBiasBitPatternAsItsScalarValue(string formatName)
    {
        // Zero weights: each output is 0 + bias, so it must be the bias's own float32 value (the vector bias widening
        // against the scalar conversion), for all 65,536 patterns, at two batch sizes and both widths.
        var format = Enum.Parse<WeightFormat>(formatName);
        const int outputs = 65536, inputs = 32;
        var bias = new byte[outputs * 2];
        for (int i = 0; i < outputs; i++)
        {
            BitConverter.TryWriteBytes(bias.AsSpan(i * 2), (ushort)i);
        }

        var weight = new byte[outputs * inputs * 2];
        foreach (int batch in new[] { 1, 5 })
        {
            float[] x = [.. Enumerable.Range(0, batch * inputs).Select(j => (j % 7) - 3f)];
            foreach (var width in new[] { VectorWidth.Widest, VectorWidth.Vector256 })
            {
                float[] y = Multiply(weight, format, outputs, inputs, x, batch, bias, width);
                for (int b = 0; b < batch; b++)
                {
                    for (int i = 0; i < outputs; i++)
                    {
                        float expected = 0f + (format == WeightFormat.Float16
                            ? (float)BitConverter.UInt16BitsToHalf((ushort)i)
                            : BitConverter.UInt32BitsToSingle((uint)i << 16));
                        float actual = y[(b * outputs) + i];
                        if (float.IsNaN(expected))
                        {
                            Assert.IsTrue(float.IsNaN(actual), $"{width}, batch {batch}, bias bits 0x{i:X4}: NaN expected, got {actual}");
                            continue;
                        }

                        Assert.AreEqual(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(actual), $"{width}, batch {batch}, bias bits 0x{i:X4}");
                    }
                }
            }
        }
    }

    [TestMethod]
    [DataRow("Float32", 37, 40, "Widest")]
    [DataRow("Float32", 130, 768, "Widest")]
    [DataRow("Float32", 33, 200, "Widest")]
    [DataRow("Float16", 37, 40, "Widest")]
    [DataRow("Float16", 130, 768, "Widest")]
    [DataRow("Float16", 33, 200, "Widest")]
    [DataRow("BFloat16", 37, 40, "Widest")]
    [DataRow("BFloat16", 130, 768, "Widest")]
    [DataRow("BFloat16", 33, 200, "Widest")]
    [DataRow("Float32", 37, 40, "Vector256")]
    [DataRow("Float32", 130, 768, "Vector256")]
    [DataRow("Float16", 37, 40, "Vector256")]
    [DataRow("Float16", 130, 768, "Vector256")]
    [DataRow("BFloat16", 37, 40, "Vector256")]
    [DataRow("BFloat16", 130, 768, "Vector256")]
    public void MatchesADoubleLoopForEveryBatchSize(string formatName, int outputs, int inputs, string widthName)
    {
        var width = Enum.Parse<VectorWidth>(widthName);
        var format = Enum.Parse<WeightFormat>(formatName);
        var random = new Random(outputs + inputs);
        var (weight, values) = Weights(format, outputs * inputs, random);
        var (bias, biasValues) = Weights(format, outputs, random);
        for (int batch = 1; batch <= 9; batch++)
        {
            float[] x = [.. Enumerable.Range(0, batch * inputs).Select(_ => (float)((random.NextDouble() * 4) - 2))];

            float[] y = Multiply(weight, format, outputs, inputs, x, batch, bias, width);

            for (int b = 0; b < batch; b++)
            {
                for (int o = 0; o < outputs; o++)
                {
                    double expected = biasValues[o], magnitude = Math.Abs(biasValues[o]);
                    for (int i = 0; i < inputs; i++)
                    {
                        expected += values[(o * inputs) + i] * x[(b * inputs) + i];
                        magnitude += Math.Abs(values[(o * inputs) + i] * x[(b * inputs) + i]);
                    }

                    // float32 accumulation: a few ulp of the sum of magnitudes.
                    Assert.AreEqual(expected, y[(b * outputs) + o], 1e-6 * magnitude, $"{format} {width} B={batch} row {b} output {o}");
                }
            }
        }
    }

    [TestMethod]
    [DataRow("Float32", "Widest")]
    [DataRow("Float16", "Widest")]
    [DataRow("BFloat16", "Widest")]
    [DataRow("Float32", "Vector256")]
    [DataRow("Float16", "Vector256")]
    [DataRow("BFloat16", "Vector256")]
    public void EveryRowIsBitIdenticalWhateverTheBatch(string formatName, string widthName)
    {
        var width = Enum.Parse<VectorWidth>(widthName);
        var format = Enum.Parse<WeightFormat>(formatName);
        const int Outputs = 70, Inputs = 200, Batch = 16;
        var random = new Random(3);
        var (weight, _) = Weights(format, Outputs * Inputs, random);
        float[] x = [.. Enumerable.Range(0, Batch * Inputs).Select(_ => (float)((random.NextDouble() * 4) - 2))];

        float[] all = Multiply(weight, format, Outputs, Inputs, x, Batch, null, width);

        foreach (int size in new[] { 1, 3, 4, 5 })
        {
            for (int first = 0; first + size <= Batch; first += size)
            {
                float[] part = Multiply(weight, format, Outputs, Inputs, x[(first * Inputs)..((first + size) * Inputs)], size, null, width);
                CollectionAssert.AreEqual(all[(first * Outputs)..((first + size) * Outputs)], part, $"rows {first}..{first + size - 1} in a batch of {size}");
            }
        }
    }

    [TestMethod]
    public void SixteenSumsEqualVector512SumOfEachVector()
    {
        if (!System.Runtime.Intrinsics.X86.Avx512F.IsSupported)
        {
            Assert.Inconclusive("AVX-512 is not supported here.");
        }

        // Lanes of very different magnitudes, so that any other grouping of the additions changes the bits of most sums.
        var random = new Random(11);
        for (int trial = 0; trial < 200; trial++)
        {
            var v = new System.Runtime.Intrinsics.Vector512<float>[16];
            for (int k = 0; k < 16; k++)
            {
                float[] lanes = [.. Enumerable.Range(0, 16).Select(_ => (float)(((random.NextDouble() * 2) - 1) * Math.Pow(2, random.Next(-20, 21))))];
                v[k] = System.Runtime.Intrinsics.Vector512.Create(lanes);
            }

            var sums = BatchedMatrixKernel.SixteenSums(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]);

            for (int k = 0; k < 16; k++)
            {
                Assert.AreEqual(BitConverter.SingleToInt32Bits(System.Runtime.Intrinsics.Vector512.Sum(v[k])), BitConverter.SingleToInt32Bits(sums[k]), $"trial {trial} vector {k}");
            }
        }
    }

    [TestMethod]
    [DataRow(37, 1650, 16)]
    [DataRow(37, 1650, 7)]
    [DataRow(19, 1568, 17)]
    [DataRow(45, 768, 16)]
    [DataRow(45, 768, 5)]
    [DataRow(70, 200, 4)]
    [DataRow(8, 40, 9)]
    [DoNotParallelize] // the tile switch is process-wide
    public void Float32RowsOfTheEightByTwoTileEqualTheOneRowKernelAndTheFourByFourTile(int outputs, int inputs, int batch)
    {
        // 1,650 and 1,568 columns are cut into 768-column chunks (the accumulators are stored and loaded between them; 1,650
        // also leaves 18 columns after the last 32-wide step), 37, 19 and 45 weight rows leave rows beside the groups of
        // eight, odd batches leave a row of X beside the pairs: every row must still equal its one-row result bit for bit
        // (a different order in any lane, or a chunk summed twice or skipped, fails it) and the 4 × 4 tile's.
        var random = new Random(outputs * inputs);
        var (weight, values) = Weights(WeightFormat.Float32, outputs * inputs, random);
        float[] x = [.. Enumerable.Range(0, batch * inputs).Select(_ => (float)((random.NextDouble() * 4) - 2))];
        bool before = BatchedMatrixKernel.UseEightByTwoTile;
        try
        {
            BatchedMatrixKernel.UseEightByTwoTile = false;
            float[] fourByFour = Multiply(weight, WeightFormat.Float32, outputs, inputs, x, batch, null, VectorWidth.Widest);
            BatchedMatrixKernel.UseEightByTwoTile = true;
            float[] eightByTwo = Multiply(weight, WeightFormat.Float32, outputs, inputs, x, batch, null, VectorWidth.Widest);

            CollectionAssert.AreEqual(fourByFour, eightByTwo, "8 × 2 against 4 × 4");
            for (int b = 0; b < batch; b++)
            {
                float[] single = Multiply(weight, WeightFormat.Float32, outputs, inputs, x[(b * inputs)..((b + 1) * inputs)], 1, null, VectorWidth.Widest);
                CollectionAssert.AreEqual(single, eightByTwo[(b * outputs)..((b + 1) * outputs)], $"row {b} of {batch}");
                for (int o = 0; o < outputs; o++)
                {
                    double expected = 0, magnitude = 0;
                    for (int i = 0; i < inputs; i++)
                    {
                        expected += values[(o * inputs) + i] * x[(b * inputs) + i];
                        magnitude += Math.Abs(values[(o * inputs) + i] * x[(b * inputs) + i]);
                    }

                    Assert.AreEqual(expected, eightByTwo[(b * outputs) + o], 1e-6 * magnitude, $"row {b} output {o}");
                }
            }
        }
        finally
        {
            BatchedMatrixKernel.UseEightByTwoTile = before;
        }
    }

    [TestMethod]
    [DataRow("Widest")]
    [DataRow("Vector256")]
    public void Float16RowsTooLargeToPrescaleAndInfiniteWeightsGiveExactResults(string widthName)
    {
        var width = Enum.Parse<VectorWidth>(widthName);
        const int Outputs = 8, Inputs = 32, Batch = 5;
        var random = new Random(4);
        var (weight, values) = Weights(WeightFormat.Float16, Outputs * Inputs, random);
        // Output 2 meets an infinite weight; row 3 of X holds a value beyond 2^16, which the 2^112 prescale would overflow.
        BitConverter.TryWriteBytes(weight.AsSpan(((2 * Inputs) + 5) * 2), (ushort)0x7C00);
        values[(2 * Inputs) + 5] = double.PositiveInfinity;
        float[] x = [.. Enumerable.Range(0, Batch * Inputs).Select(_ => (float)(random.NextDouble() + 0.5))];
        x[(3 * Inputs) + 7] = 100_000f;
        float[] separately = [.. Enumerable.Range(0, Batch).SelectMany(b => Multiply(weight, WeightFormat.Float16, Outputs, Inputs, x[(b * Inputs)..((b + 1) * Inputs)], 1, null, width))];

        float[] y = Multiply(weight, WeightFormat.Float16, Outputs, Inputs, x, Batch, null, width);

        for (int b = 0; b < Batch; b++)
        {
            for (int o = 0; o < Outputs; o++)
            {
                double expected = 0, magnitude = 0;
                for (int i = 0; i < Inputs; i++)
                {
                    expected += values[(o * Inputs) + i] * x[(b * Inputs) + i];
                    magnitude += Math.Abs(values[(o * Inputs) + i] * x[(b * Inputs) + i]);
                }

                if (double.IsInfinity(expected))
                {
                    Assert.AreEqual(float.PositiveInfinity, y[(b * Outputs) + o], $"row {b} output {o}");
                }
                else
                {
                    Assert.AreEqual(expected, y[(b * Outputs) + o], 1e-6 * magnitude, $"row {b} output {o}");
                }
            }
        }

        CollectionAssert.AreEqual(separately, y, "each row alone (most of them prescaled) vs all together (all exact)");
    }

    [TestMethod]
    [DataRow("Widest", 1f)]
    [DataRow("Widest", 131072f)]
    [DataRow("Vector256", 1f)]
    [DataRow("Vector256", 131072f)]
    public void ReadsEveryFloat16BitPatternExactlyInEveryTile(string widthName, float lastRowValue)
    {
        var width = Enum.Parse<VectorWidth>(widthName);
        // Output o holds bit pattern o in column o % 40 (in the vector part or among the leftover columns) and zeros
        // elsewhere; every row of X is a constant, so the exact result is the widened value times that constant. Five rows
        // take both tilings (four rows of X against one weight row, then one against four); a row of 2^17 sends the whole
        // call through exact widening, the other batch through the prescaled one. Subnormals, infinities and NaNs included.
        const int Outputs = 65536, Inputs = 40;
        var weight = new byte[Outputs * Inputs * 2];
        for (int o = 0; o < Outputs; o++)
        {
            BitConverter.TryWriteBytes(weight.AsSpan(((o * Inputs) + (o % Inputs)) * 2), (ushort)o);
        }

        float[] rows = [1f, -0.75f, 0.5f, 3f, lastRowValue];
        float[] x = [.. rows.SelectMany(v => Enumerable.Repeat(v, Inputs))];

        float[] y = Multiply(weight, WeightFormat.Float16, Outputs, Inputs, x, rows.Length, null, width);

        for (int b = 0; b < rows.Length; b++)
        {
            for (int o = 0; o < Outputs; o++)
            {
                float expected = (float)BitConverter.UInt16BitsToHalf((ushort)o) * rows[b];
                Assert.IsTrue(expected.Equals(y[(b * Outputs) + o]), $"{width} row {b} ({rows[b]}) 0x{o:X4}: expected {expected}, got {y[(b * Outputs) + o]}");
            }
        }
    }
}
