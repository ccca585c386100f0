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
    [DoNotParallelize] // Tensor.TotalCount is process-wide: no other test may create tensors meanwhile
    public void ALargeZerosTensorIsTheOnlyHandleItLeaves()
    {
        TransparentHugePages.Zeros([2304, 768], ScalarType.Float16, CPU).Dispose(); // first use
        long alive = Tensor.TotalCount;
        var tensor = TransparentHugePages.Zeros([2304, 768], ScalarType.Float16, CPU);
        Assert.AreEqual(alive + 1, Tensor.TotalCount, "one handle: the tensor returned");
        tensor.Dispose();
        Assert.AreEqual(alive, Tensor.TotalCount);
    }

    private static WeightFormat Format(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => WeightFormat.Float32,
        ScalarType.Float16 => WeightFormat.Float16,
        _ => WeightFormat.BFloat16,
    };
}
