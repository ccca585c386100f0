using LmHead.Extensions.Models;
using static TorchSharp.torch;
using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Tests.Models;

/// <summary><see cref="TransparentHugePages.Zeros"/>: zero-filled tensors of the asked shape, 2 MiB-aligned when large enough on Linux.</summary>
[TestClass]
public sealed unsafe class TransparentHugePagesTests
{
    [TestMethod]
    [DataRow(1L, 1L, "Float32")]
    [DataRow(768L, 768L, "Float16")]
    [DataRow(2304L, 768L, "Float16")]
    [DataRow(1024L, 513L, "Float32")]
    [DataRow(3L, 1048577L, "BFloat16")]
    public void ZerosIsAZeroFilledContiguousTensorWhoseAddressReadsItsValues(long rows, long columns, string dtypeName)
    {
        var dtype = Enum.Parse<ScalarType>(dtypeName);
        using var scope = NewDisposeScope();
        using var tensor = TransparentHugePages.Zeros([rows, columns], dtype, CPU);
        CollectionAssert.AreEqual(new[] { rows, columns }, tensor.shape);
        Assert.AreEqual(dtype, tensor.dtype);
        Assert.IsTrue(tensor.is_contiguous());
        Assert.AreEqual(0f, tensor.abs().max().to_type(ScalarType.Float32).item<float>());

        // The address the managed kernels read is the tensor's first element, also when the tensor is a view into a larger buffer.
        using var filled = arange(rows * columns, ScalarType.Float32).remainder(251).reshape(rows, columns).to_type(dtype);
        tensor.copy_(filled);
        byte* address = Gpt2DecodeStep.Address(tensor);
        long last = (rows * columns) - 1;
        Assert.AreEqual(filled.flatten()[last].to_type(ScalarType.Float32).item<float>(), Gpt2DecodeKernels.Element(address, last, Format(dtype)));
        Assert.AreEqual(filled.flatten()[0].to_type(ScalarType.Float32).item<float>(), Gpt2DecodeKernels.Element(address, 0, Format(dtype)));
        if (OperatingSystem.IsLinux() && rows * columns * tensor.ElementSize >= (2L << 20))
        {
            Assert.AreEqual(0L, (long)address % (2L << 20), "a large tensor starts on a 2 MiB boundary");
        }
    }

    [TestMethod]
    public void InAPackTogetherScopeTensorsFollowOneAnotherInA2MiBAlignedBlockAndOutliveTheScope()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Inconclusive("2 MiB pages are advised on Linux only.");
        }

        const long HugePage = 2L << 20;
        Tensor small, large, second, outsider;
        using (TransparentHugePages.PackTogether())
        {
            small = TransparentHugePages.Zeros([768, 768], ScalarType.Float16, CPU);
            large = TransparentHugePages.Zeros([2304, 768], ScalarType.Float16, CPU);
            second = TransparentHugePages.Zeros([3, 5], ScalarType.Float16, CPU);
            outsider = TransparentHugePages.Zeros([64L << 20], ScalarType.Float16, CPU); // 128 MiB: more than half a block
        }

        using (small)
        using (large)
        using (second)
        using (outsider)
        {
            long a = (long)Gpt2DecodeStep.Address(small), b = (long)Gpt2DecodeStep.Address(large), c = (long)Gpt2DecodeStep.Address(second);
            Assert.AreEqual(0L, a % HugePage, "a block starts on a 2 MiB boundary");
            Assert.AreEqual(a + (768 * 768 * 2), b, "the next tensor follows at the next 64-byte line");
            Assert.AreEqual(b + (2304 * 768 * 2), c);
            long d = (long)Gpt2DecodeStep.Address(outsider);
            Assert.IsTrue(d < a || d >= a + (64L << 20), "a tensor of more than half a block gets its own buffer");
            Assert.AreEqual(0L, d % HugePage);

            // Zero-filled, and each its own memory after the scope is gone.
            Assert.AreEqual(0f, large.abs().max().to_type(ScalarType.Float32).item<float>());
            small.fill_(1.5);
            large.fill_(-2);
            second.fill_(3);
            Assert.AreEqual(1.5f, small.to_type(ScalarType.Float32).mean().item<float>());
            Assert.AreEqual(-2f, large.to_type(ScalarType.Float32).mean().item<float>());
            Assert.AreEqual(3f, second.to_type(ScalarType.Float32).mean().item<float>());
        }
    }

    [TestMethod]
    [DataRow("Float32")]
    [DataRow("Float16")]
    public void AGpt2ModelPacksItsMatricesTogether(string dtypeName)
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Inconclusive("2 MiB pages are advised on Linux only.");
        }

        var dtype = Enum.Parse<ScalarType>(dtypeName);
        using var model = new Gpt2Model(TinyGpt2.Config(), dtype);
        var spans = new List<(long Start, long Bytes)>();
        foreach (var (name, parameter) in model.named_parameters())
        {
            bool conv = name.EndsWith("c_attn.weight", StringComparison.Ordinal) || name.EndsWith("c_proj.weight", StringComparison.Ordinal)
                || name.EndsWith("c_fc.weight", StringComparison.Ordinal);
            if (!conv && name is not ("transformer.wte.weight" or "transformer.wpe.weight"))
            {
                continue;
            }

            // Conv1D parameters are transposed views of the row-major matrix the kernels read.
            using var rowMajor = conv ? parameter.t() : parameter.contiguous();
            spans.Add(((long)Gpt2DecodeStep.Address(rowMajor), rowMajor.NumberOfElements * rowMajor.ElementSize));
        }

        Assert.AreEqual(2 + (4 * TinyGpt2.Config().LayerCount), spans.Count);
        spans.Sort();
        Assert.AreEqual(0L, spans[0].Start % (2L << 20), "the model's block starts on a 2 MiB boundary");
        for (int i = 1; i < spans.Count; i++)
        {
            long next = (spans[i - 1].Start + spans[i - 1].Bytes + 63) / 64 * 64;
            Assert.AreEqual(next, spans[i].Start, $"matrix {i} follows matrix {i - 1} in the same block");
        }
    }

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void PackingLeavesNoMoreTensorHandlesAliveAfterAModelIsDisposed(bool tied)
    {
        // What a model leaves behind (handles the finalizer collects later) must not grow with packing: each packed
        // matrix is one view, and the blocks' own handles go when the constructor's scope ends.
        bool before = TransparentHugePages.PackingEnabled;
        try
        {
            new Gpt2Model(TinyGpt2.Config(tied: tied), ScalarType.Float16).Dispose(); // first use: TorchSharp's own lazies
            long Left(bool packing)
            {
                TransparentHugePages.PackingEnabled = packing;
                long alive = Tensor.TotalCount;
                new Gpt2Model(TinyGpt2.Config(tied: tied), ScalarType.Float16).Dispose();
                return Tensor.TotalCount - alive;
            }

            long apart = Left(false), packed = Left(true);
            Assert.AreEqual(apart, packed, $"handles left: {apart} with each matrix apart, {packed} packed");
        }
        finally
        {
            TransparentHugePages.PackingEnabled = before;
        }
    }

    private static WeightFormat Format(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => WeightFormat.Float32,
        ScalarType.Float16 => WeightFormat.Float16,
        _ => WeightFormat.BFloat16,
    };
}
