using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LmHead.Extensions.Decoding.Cpu;
using LmHead.Extensions.Models;
using LmHead.Extensions.Tests.Models;
using TorchSharp;
using static TorchSharp.torch;
using VectorWidth = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.VectorWidth;
using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Tests.Decoding.Cpu;

/// <summary>
/// The once-per-version scan of float16 weights (<see cref="Float16WeightScan"/>) and what the kernels do with it: skip the
/// per-load infinity/NaN check and widen chunks holding subnormals without subnormal arithmetic, with sums bit for bit
/// those of the checked path.
/// </summary>
[TestClass]
public sealed unsafe class Float16WeightScanTests
{
    private const float Subnormal = 3.5e-6f;

    [TestMethod]
    public void TheVersionCountsInPlaceOperationsOnTheTensorAndOnItsViews()
    {
        Assert.IsTrue(TensorVersion.IsAvailable, "libtorch's version function should be found on Linux with TorchSharp-cpu");
        using var tensor = zeros(8, 4, ScalarType.Float16);
        Assert.IsTrue(TensorVersion.TryRead(tensor, out long first));
        using (no_grad())
        {
            tensor.add_(1);
        }

        Assert.IsTrue(TensorVersion.TryRead(tensor, out long second));
        Assert.AreEqual(first + 1, second);

        // A transposed view (as GPT-2's Conv1D parameter is of its row-major weight) and a detached alias share the counter.
        using var view = tensor.t();
        using var alias = tensor.detach();
        using (no_grad())
        {
            view.mul_(2);
            using var ones = torch.ones(8, 4, ScalarType.Float16);
            alias.copy_(ones);
        }

        Assert.IsTrue(TensorVersion.TryRead(tensor, out long third));
        Assert.AreEqual(second + 2, third);

        // Reading never counts.
        using (var sum = tensor.sum())
        {
            _ = sum.ToSingle();
        }

        Assert.IsTrue(TensorVersion.TryRead(alias, out long fourth));
        Assert.AreEqual(third, fourth);
    }

    [TestMethod]
    public void InferenceTensorsHaveNoVersionAndNothingIsKnownOfThem()
    {
        using (inference_mode())
        {
            using var tensor = zeros(4, 64, ScalarType.Float16);
            Assert.IsFalse(TensorVersion.TryRead(tensor, out _));
            Assert.IsFalse(new Float16WeightScan(tensor).Current().Finite);
        }
    }

    [TestMethod]
    public void FlagsExactlyTheChunksOfEachRowThatHoldASubnormal()
    {
        // 3 rows of 100 columns: chunks [0, 32), [32, 64), [64, 96); columns 96-99 are the kernels' scalar tail, never flagged.
        var values = new float[3, 100];
        for (int r = 0; r < 3; r++)
        {
            for (int c = 0; c < 100; c++)
            {
                values[r, c] = 0.5f + (0.01f * c);
            }
        }

        values[0, 40] = Subnormal;       // row 0, chunk 1
        values[1, 5] = 0f;               // zeros cost no assist: not flagged
        values[1, 6] = -0f;
        values[1, 70] = 6.2e-5f;         // the smallest normals (2^-14 = 6.1035e-5) are not subnormal
        values[2, 64] = -Subnormal;      // row 2, chunk 2 (negative)
        values[2, 99] = Subnormal;       // tail: not flagged
        using var weight = tensor(values).to_type(ScalarType.Float16);
        var facts = new Float16WeightScan(weight).Current();

        Assert.IsTrue(facts.Finite);
        Assert.AreEqual(1, facts.WordsPerRow);
        Assert.AreEqual(0b010UL, facts.Row(0)[0]);
        Assert.AreEqual(0UL, facts.Row(1)[0]);
        Assert.AreEqual(0b100UL, facts.Row(2)[0]);
    }

    [TestMethod]
    public void RowsOfMoreThan64ChunksUseSeveralWordsAndAMatrixWithoutSubnormalsHasNoMasks()
    {
        using var clean = full(2, 65 * 32, 0.25f, ScalarType.Float16);
        var none = new Float16WeightScan(clean).Current();
        Assert.IsTrue(none.Finite);
        Assert.IsTrue(none.SubnormalChunks == null);

        using (no_grad())
        {
            clean[1, 64 * 32] = tensor(Subnormal, ScalarType.Float16);
            clean[0, 63 * 32 + 31] = tensor(-Subnormal, ScalarType.Float16);
        }

        var facts = new Float16WeightScan(clean).Current();
        Assert.AreEqual(2, facts.WordsPerRow);
        Assert.AreEqual(1UL << 63, facts.Row(0)[0]);
        Assert.AreEqual(0UL, facts.Row(0)[1]);
        Assert.AreEqual(0UL, facts.Row(1)[0]);
        Assert.AreEqual(1UL, facts.Row(1)[1]);
    }

    [TestMethod]
    public void ANewVersionIsScannedAgainAndInfinitiesOrNaNsMakeTheFactsUnknown()
    {
        using var weight = full(33, 70, 0.5f, ScalarType.Float16);
        var scan = new Float16WeightScan(weight);
        Assert.IsTrue(scan.Current().Finite);
        Assert.IsTrue(scan.Current().SubnormalChunks == null);

        foreach (float special in new[] { float.PositiveInfinity, float.NegativeInfinity, float.NaN })
        {
            using (no_grad())
            {
                weight[32, 5] = tensor(special, ScalarType.Float16);
            }

            var facts = scan.Current();
            Assert.IsFalse(facts.Finite, $"{special} written in place");
            Assert.IsTrue(facts.SubnormalChunks == null);
            using (no_grad())
            {
                weight[32, 5] = tensor(Subnormal, ScalarType.Float16);
            }

            facts = scan.Current();
            Assert.IsTrue(facts.Finite, $"{special} overwritten");
            Assert.AreEqual(1UL, facts.Row(32)[0], "the subnormal written in its place is flagged");
            using (no_grad())
            {
                weight[32, 5] = tensor(0.5f, ScalarType.Float16);
            }
        }
    }

    [TestMethod]
    public void OnlyContiguousTwoDimensionalFloat16CpuTensorsAreEverKnown()
    {
        using var single = randn(8, 64);
        using var brain = randn(8, 64).to_type(ScalarType.BFloat16);
        using var half = randn(8, 64).to_type(ScalarType.Float16);
        using var strided = half.t();
        using var flat = randn(512).to_type(ScalarType.Float16);
        Assert.IsFalse(new Float16WeightScan(single).Current().Finite);
        Assert.IsFalse(new Float16WeightScan(brain).Current().Finite);
        Assert.IsFalse(new Float16WeightScan(strided).Current().Finite);
        Assert.IsFalse(new Float16WeightScan(flat).Current().Finite);
        Assert.IsTrue(new Float16WeightScan(half).Current().Finite);

        bool before = Float16WeightScan.Enabled;
        try
        {
            Float16WeightScan.Enabled = false;
            Assert.IsFalse(new Float16WeightScan(half).Current().Finite);
        }
        finally
        {
            Float16WeightScan.Enabled = before;
        }
    }

    [TestMethod]
    public void NormalWideningGivesEveryFiniteFloat16ValueExactly()
    {
        if (!MatrixVectorKernel.IsWideAccelerated)
        {
            Assert.Inconclusive("AVX-512 is not accelerated on this CPU");
        }

        // Every finite bit pattern, 32 per vector: low halves (even indices) and high halves (odd ones).
        var patterns = Enumerable.Range(0, 65536).Where(b => (b & 0x7C00) != 0x7C00).Select(b => (ushort)b).ToList();
        while (patterns.Count % 32 != 0)
        {
            patterns.Add(0);
        }

        ushort[] bits = [.. patterns];
        var widened = new float[16];
        fixed (ushort* p = bits)
        fixed (float* o = widened)
        {
            for (int start = 0; start < bits.Length; start += 32)
            {
                var pairs = Avx512F.LoadVector512((int*)(p + start));
                for (int half = 0; half < 2; half++)
                {
                    Avx512F.Store(o, half == 0 ? HalfWidening.Float16LowNormal(pairs) : HalfWidening.Float16HighNormal(pairs));
                    for (int i = 0; i < 16; i++)
                    {
                        ushort pattern = p[start + (2 * i) + half];
                        float expected = (float)BitConverter.UInt16BitsToHalf(pattern);
                        Assert.AreEqual(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(widened[i]), $"0x{pattern:X4}");
                    }
                }
            }
        }
    }

    /// <summary>
    /// float16 weights N(0, 0.02²) (0.24 % subnormal, as a GPT-2 initialisation) with more subnormals, zeros and extremes
    /// mixed in; or, without subnormals, N(0, 1) with every subnormal replaced by 2^-14.
    /// </summary>
    /// <summary>
    /// float16 weights: drawn from N(0, 0.02²) as GPT-2 is initialised (about one chunk of 32 in 13 holds a subnormal,
    /// few enough for the scan to copy them), with one weight in 50 replaced by a subnormal, a zero or an extreme value
    /// unless <paramref name="plain"/> (too many flagged chunks, and some with 65504: no copies), or with every subnormal
    /// raised to the smallest normal (<paramref name="subnormals"/> false).
    /// </summary>
    private static Tensor WeightsWithSubnormals(int rows, int columns, int seed, bool subnormals = true, bool plain = false)
    {
        var generator = new Generator((ulong)seed);
        using var noise = randn(rows, columns, generator: generator);
        if (!subnormals)
        {
            using var half = noise.to_type(ScalarType.Float16);
            using var small = half.abs().lt(6.1035156e-5);
            using var smallest = full_like(half, 6.1035156e-5);
            return where(small, smallest, half);
        }

        var weight = noise.mul(0.02).to_type(ScalarType.Float16);
        if (plain)
        {
            return weight;
        }

        var random = new Random(seed);
        using (no_grad())
        {
            for (int i = 0; i < rows * columns / 50; i++)
            {
                int r = random.Next(rows), c = random.Next(columns);
                float value = random.Next(4) switch
                {
                    0 => (float)BitConverter.UInt16BitsToHalf((ushort)random.Next(1, 0x400)),
                    1 => -(float)BitConverter.UInt16BitsToHalf((ushort)random.Next(1, 0x400)),
                    2 => 0f,
                    _ => random.Next(2) == 0 ? 65504f : -6.1035156e-5f,
                };
                weight[r, c] = tensor(value, ScalarType.Float16);
            }
        }

        return weight;
    }

    private static float[] Activations(int count, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() * 4) - 2))];
    }

    [TestMethod]
    [DataRow(37, 40, true)]
    [DataRow(130, 768, true)]
    [DataRow(33, 200, true)]
    [DataRow(8, 2080, true)]
    [DataRow(12, 3072, true)]
    [DataRow(37, 40, false)]
    [DataRow(130, 768, false)]
    [DataRow(9, 2080, false)]
    [DataRow(130, 768, true, true)]
    [DataRow(33, 200, true, true)]
    [DataRow(12, 3072, true, true)]
    [DataRow(40, 2080, true, true)]
    public void BatchedKernelWithTheScanIsBitIdenticalToTheCheckedPath(int outputs, int inputs, bool subnormals, bool plain = false)
    {
        using var weight = WeightsWithSubnormals(outputs, inputs, outputs + inputs, subnormals, plain);
        var facts = new Float16WeightScan(weight).Current();
        Assert.IsTrue(facts.Finite);
        Assert.AreEqual(subnormals, facts.SubnormalChunks != null, "flagged chunks exactly when the matrix has subnormals");
        Assert.AreEqual(plain, facts.HasCopies, "copies of the flagged chunks exactly for the plain N(0, 0.02²) weights");
        using var bias = randn(outputs).to_type(ScalarType.Float16);
        byte* w = Gpt2DecodeStep.Address(weight), b = Gpt2DecodeStep.Address(bias);
        foreach (var width in new[] { VectorWidth.Widest, VectorWidth.Vector256 })
        {
            foreach (int batch in new[] { 1, 2, 3, 4, 5, 9 })
            {
                float[] x = Activations(batch * inputs, batch);
                var checkedPath = new float[batch * outputs];
                var scanned = new float[batch * outputs];
                fixed (float* px = x, pc = checkedPath, ps = scanned)
                {
                    BatchedMatrixKernel.Multiply((nint)w, WeightFormat.Float16, outputs, inputs, px, batch, (nint)b, pc, width);
                    BatchedMatrixKernel.Multiply((nint)w, WeightFormat.Float16, outputs, inputs, px, batch, (nint)b, ps, width, facts: facts);
                }

                for (int i = 0; i < checkedPath.Length; i++)
                {
                    Assert.AreEqual(BitConverter.SingleToUInt32Bits(checkedPath[i]), BitConverter.SingleToUInt32Bits(scanned[i]), $"{width}, batch {batch}, element {i}");
                }
            }
        }
    }

    [TestMethod]
    [DataRow(5, 37, true)]
    [DataRow(1027, 96, true)]
    [DataRow(2050, 768, true)]
    [DataRow(1030, 803, true)]
    [DataRow(9, 2080, true)]
    [DataRow(1027, 96, false)]
    [DataRow(1030, 803, false)]
    [DataRow(2050, 768, true, true)]
    [DataRow(1030, 803, true, true)]
    [DataRow(9, 2080, true, true)]
    [DataRow(300, 4160, true, true)]
    public void MatrixVectorKernelWithTheScanIsBitIdenticalToTheCheckedPath(int rows, int columns, bool subnormals, bool plain = false)
    {
        using var weight = WeightsWithSubnormals(rows, columns, rows * 7, subnormals, plain);
        var facts = new Float16WeightScan(weight).Current();
        Assert.IsTrue(facts.Finite);
        Assert.AreEqual(subnormals, facts.SubnormalChunks != null, "flagged chunks exactly when the matrix has subnormals");
        Assert.AreEqual(plain, facts.HasCopies, "copies of the flagged chunks exactly for the plain N(0, 0.02²) weights");
        float[] hidden = Activations(columns, columns);
        foreach (var width in new[] { VectorWidth.Widest, VectorWidth.Vector256 })
        {
            foreach (var vectorFormat in new[] { WeightFormat.Float32, WeightFormat.Float16 })
            {
                int size = vectorFormat == WeightFormat.Float32 ? 4 : 2;
                var checkedPath = new byte[rows * size];
                var scanned = new byte[rows * size];
                fixed (float* h = hidden)
                fixed (byte* pc = checkedPath, ps = scanned)
                {
                    byte* w = Gpt2DecodeStep.Address(weight);
                    MatrixVectorKernel.Multiply((nint)w, WeightFormat.Float16, rows, columns, (nint)h, 0, (nint)pc, vectorFormat, width: width);
                    MatrixVectorKernel.Multiply((nint)w, WeightFormat.Float16, rows, columns, (nint)h, 0, (nint)ps, vectorFormat, width: width, facts: facts);
                }

                CollectionAssert.AreEqual(checkedPath, scanned, $"{width}, output {vectorFormat}");
            }
        }
    }

    [TestMethod]
    public void AFloat16ModelWithSubnormalWeightsDecodesTheSameBitsWithAndWithoutTheScan()
    {
        var config = TinyGpt2.Config() with { HiddenSize = 64 };
        using var source = TinyGpt2.CreateRandom(config, 23);
        using var model = new Gpt2Model(config, ScalarType.Float16);
        var random = new Random(23);
        using (no_grad())
        {
            foreach (var ((_, target), (_, value)) in model.named_parameters().Zip(source.named_parameters()))
            {
                target.copy_(value);
                if (target.dim() == 2)
                {
                    // Two percent subnormals, so that most chunks of 32 columns are flagged.
                    using var mask = rand(target.shape).lt(0.02);
                    using var tiny = full(target.shape, (float)BitConverter.UInt16BitsToHalf((ushort)random.Next(1, 0x400)), ScalarType.Float16);
                    target.copy_(where(mask, tiny, target));
                }
            }
        }

        int[] ids = [5, 17, 250, 3, 99, 42, 42, 0, 299, 123];
        var withScan = Logits(model, ids);
        bool before = Float16WeightScan.Enabled;
        try
        {
            Float16WeightScan.Enabled = false;
            var checkedPath = Logits(model, ids);
            for (int t = 0; t < ids.Length; t++)
            {
                CollectionAssert.AreEqual(checkedPath[t], withScan[t], $"step {t}");
            }
        }
        finally
        {
            Float16WeightScan.Enabled = before;
        }
    }

    /// <summary>The logits (as bits) of one-token managed decode steps after a one-token prompt.</summary>
    private static byte[][] Logits(Gpt2Model model, int[] ids)
    {
        using var cache = model.CreateKvCache();
        var rows = new List<byte[]>();
        foreach (int id in ids)
        {
            using var step = tensor(new long[] { id });
            using var logits = model.ComputeLogits(step, cache);
            using var row = logits[0].contiguous();
            rows.Add(row.bytes.ToArray());
        }

        return [.. rows];
    }
}
