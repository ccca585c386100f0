using System.Buffers.Binary;
using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Models.Llama;

/// <summary>
/// Loading maps the weights files (Linux): the parameters are views of a private mapping, so they equal what was saved,
/// writing them leaves the file alone, saving into the folder of a loaded model does not change it, and data not aligned
/// to its element size is read instead.
/// </summary>
[TestClass]
public sealed class LlamaMappedLoadingTests
{
    [TestMethod]
    public void ParametersHoldTheSavedValuesAndWritingThemLeavesTheFileAlone()
    {
        string folder = TinyLlama.CreateFolder(TinyLlama.Llama(), seed: 5);
        string file = Path.Combine(folder, LlamaPretrained.WeightsFileName);
        byte[] saved = File.ReadAllBytes(file);
        using var expected = TinyLlama.CreateRandom(TinyLlama.Llama(), seed: 5);

        using (var model = LlamaPretrained.LoadModel(folder))
        {
            if (OperatingSystem.IsLinux())
            {
                Assert.IsTrue(MapsOf(file), "on Linux the loaded model maps its weights file");
            }

            var wanted = expected.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            using var noGrad = no_grad();
            foreach (var (name, parameter) in model.named_parameters())
            {
                Assert.IsTrue(Same(parameter, wanted[name]), $"{name} holds the saved values");
                parameter.add_(1);
            }
        }

        CollectionAssert.AreEqual(saved, File.ReadAllBytes(file), "the mapping is private: the file never changes");
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.IsFalse(MapsOf(file), "disposing the model releases the mapping");
    }

    [TestMethod]
    public void SavingIntoTheFolderOfALoadedModelLeavesTheLoadedWeightsAlone()
    {
        string folder = TinyLlama.CreateFolder(TinyLlama.Qwen2(), seed: 6, storage: ScalarType.BFloat16);
        using var ids = tensor(new long[] { 3, 14, 15, 92, 65 }).unsqueeze(0);
        using var loaded = LlamaPretrained.LoadModel(folder);
        using var before = loaded.ComputeLogits(ids);

        using (var other = TinyLlama.CreateRandom(TinyLlama.Qwen2(), seed: 7))
        {
            LlamaPretrained.Save(other, folder, ScalarType.BFloat16);
        }

        using var after = loaded.ComputeLogits(ids);
        Assert.IsTrue(Same(before, after), "the loaded model keeps the weights it was loaded with");
        using var reloaded = LlamaPretrained.LoadModel(folder);
        using var others = reloaded.ComputeLogits(ids);
        Assert.IsFalse(Same(before, others), "the folder holds the other model now");
    }

    [TestMethod]
    public void DataNotAlignedToItsElementSizeIsReadInstead()
    {
        string folder = TinyLlama.CreateFolder(TinyLlama.Llama(), seed: 8, storage: ScalarType.BFloat16);
        string file = Path.Combine(folder, LlamaPretrained.WeightsFileName);
        using var aligned = LlamaPretrained.LoadModel(folder);

        // One more space after the JSON header: every tensor's data starts at an odd offset.
        byte[] bytes = File.ReadAllBytes(file);
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        byte[] shifted = new byte[bytes.Length + 1];
        BinaryPrimitives.WriteUInt64LittleEndian(shifted, (ulong)(headerLength + 1));
        bytes.AsSpan(8, (int)headerLength).CopyTo(shifted.AsSpan(8));
        shifted[8 + headerLength] = (byte)' ';
        bytes.AsSpan(8 + (int)headerLength).CopyTo(shifted.AsSpan(9 + (int)headerLength));
        string shiftedFolder = TinyLlama.NewFolder(); // not in place: the aligned model maps the old file
        File.Copy(Path.Combine(folder, "config.json"), Path.Combine(shiftedFolder, "config.json"));
        File.WriteAllBytes(Path.Combine(shiftedFolder, LlamaPretrained.WeightsFileName), shifted);

        using var misaligned = LlamaPretrained.LoadModel(shiftedFolder);
        var wanted = aligned.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, parameter) in misaligned.named_parameters())
        {
            Assert.IsTrue(Same(parameter, wanted[name]), $"{name} holds the saved values");
        }
    }

    [TestMethod]
    [DoNotParallelize] // the variable is process-wide: no other load may run meanwhile
    public void MapWeightsZeroReadsEveryTensorIntoMemoryOfItsOwn()
    {
        string folder = TinyLlama.CreateFolder(TinyLlama.Llama(), seed: 9, storage: ScalarType.BFloat16);
        string file = Path.Combine(folder, LlamaPretrained.WeightsFileName);
        using var mapped = LlamaPretrained.LoadModel(folder);
        Environment.SetEnvironmentVariable("LMHEAD_MAP_WEIGHTS", "0");
        try
        {
            string copy = TinyLlama.NewFolder(); // its own file, so a mapping of the first cannot answer for it
            File.Copy(Path.Combine(folder, "config.json"), Path.Combine(copy, "config.json"));
            File.Copy(file, Path.Combine(copy, LlamaPretrained.WeightsFileName));
            using var read = LlamaPretrained.LoadModel(copy);
            Assert.IsFalse(MapsOf(Path.Combine(copy, LlamaPretrained.WeightsFileName)), "LMHEAD_MAP_WEIGHTS=0: nothing mapped");
            var wanted = mapped.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            foreach (var (name, parameter) in read.named_parameters())
            {
                Assert.IsTrue(Same(parameter, wanted[name]), $"{name} holds the saved values");
            }
        }
        finally
        {
            Environment.SetEnvironmentVariable("LMHEAD_MAP_WEIGHTS", null);
        }

        if (OperatingSystem.IsLinux())
        {
            Assert.IsTrue(MapsOf(file), "the first load mapped its file");
        }
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.allclose(b, rtol: 0, atol: 0);

    private static bool MapsOf(string file) =>
        OperatingSystem.IsLinux() && File.ReadAllText("/proc/self/maps").Contains(Path.GetFullPath(file), StringComparison.Ordinal);
}
