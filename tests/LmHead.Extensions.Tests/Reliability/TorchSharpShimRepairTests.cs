using System.Reflection;

namespace LmHead.Extensions.Tests.Reliability;

/// <summary>
/// The ELF edit behind the TorchSharp fix (the build task and the run-time repair share it): on TorchSharp's original
/// shim from the NuGet cache it marks exactly the GLIBCXX_3.4.32 requirement weak, once; the copy in this test's output
/// is already fixed; a file is replaced whole; damaged files are refused. (.ci/package-smoke runs the end-to-end
/// cases: the fix turned off gives the clear error, a ProjectReference from outside the repository is repaired.)
/// </summary>
[TestClass]
public sealed class TorchSharpShimRepairTests
{
    private static string OriginalShim()
    {
        string root = typeof(TorchSharpShimRepairTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "NuGetPackageRoot").Value!;
        var version = typeof(TorchSharp.torch).Assembly.GetName().Version!;
        string path = Path.Combine(root, "torchsharp", $"{version.Major}.{version.Minor}.{version.Build}", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.IsTrue(File.Exists(path), $"TorchSharp's original shim was not found at {path}.");
        return path;
    }

    [TestMethod]
    public void TheOriginalShimGetsExactlyItsGlibcxx32RequirementMarkedWeakOnce()
    {
        byte[] original = File.ReadAllBytes(OriginalShim());
        byte[] bytes = (byte[])original.Clone();

        int changed = GlibcxxWeakVersion.Patch(bytes);

        Assert.AreEqual(1, changed, "TorchSharp 0.107.0's shim has one vernaux entry for GLIBCXX_3.4.32.");
        int[] differing = [.. Enumerable.Range(0, bytes.Length).Where(i => bytes[i] != original[i])];
        Assert.AreEqual(1, differing.Length, "Only the flags byte of that entry may change.");
        Assert.AreEqual(0x2, bytes[differing[0]] ^ original[differing[0]], "The change is the VER_FLG_WEAK bit.");
        Assert.AreEqual(0, GlibcxxWeakVersion.Patch(bytes), "A patched shim needs no second patch.");
    }

    [TestMethod]
    public void TheShimInThisTestsOutputIsAlreadyFixedOnHostsThatNeedIt()
    {
        string shim = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.IsTrue(File.Exists(shim), shim);
        int pending = GlibcxxWeakVersion.Patch(File.ReadAllBytes(shim));
        Assert.AreEqual(GlibcxxWeakVersion.HostHasVersion() ? 1 : 0, pending,
            "Where the host lacks GLIBCXX_3.4.32 the build (or the run-time repair) fixed the output copy; elsewhere it is left alone.");
    }

    [TestMethod]
    public void PatchFileReplacesTheFileWholeAndLeavesNoTemporaryFileBehind()
    {
        string folder = Directory.CreateTempSubdirectory("lmhead-shim-").FullName;
        try
        {
            string copy = Path.Combine(folder, "libLibTorchSharp.so");
            File.Copy(OriginalShim(), copy);
            byte[] expected = File.ReadAllBytes(copy);
            GlibcxxWeakVersion.Patch(expected);

            Assert.IsTrue(GlibcxxWeakVersion.PatchFile(copy));
            CollectionAssert.AreEqual(expected, File.ReadAllBytes(copy));
            Assert.IsFalse(GlibcxxWeakVersion.PatchFile(copy), "Patching twice changes nothing.");
            CollectionAssert.AreEqual(new[] { copy }, Directory.GetFiles(folder));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [TestMethod]
    public void TheLoadErrorBlamesGlibcxxOnlyWhileTheShimStillRequiresItStrongly()
    {
        string folder = Directory.CreateTempSubdirectory("lmhead-shim-").FullName;
        try
        {
            string copy = Path.Combine(folder, "libLibTorchSharp.so");
            File.Copy(OriginalShim(), copy);
            bool hostLacksVersion = !GlibcxxWeakVersion.HostHasVersion();

            Assert.AreEqual(hostLacksVersion, TorchSharpRuntime.ShimNeedsMissingGlibcxx(copy), "The original shim is the cause exactly where the host lacks the version.");
            GlibcxxWeakVersion.PatchFile(copy);
            Assert.IsFalse(TorchSharpRuntime.ShimNeedsMissingGlibcxx(copy),
                "A patched shim that fails to load fails for another reason (for example no TorchSharp-cpu in the application), which the message must not hide.");
            File.WriteAllText(copy, "not an ELF file");
            Assert.IsFalse(TorchSharpRuntime.ShimNeedsMissingGlibcxx(copy), "A damaged file is not diagnosed as a GLIBCXX problem.");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [TestMethod]
    public void DamagedFilesAreRefusedWithoutBeingChanged()
    {
        byte[] original = File.ReadAllBytes(OriginalShim());
        byte[] notElf = [.. "#!/bin/sh\n"u8, .. new byte[100]];
        byte[] truncated = original[..4096];
        byte[] bigEndian = (byte[])original.Clone();
        bigEndian[5] = 2;

        foreach (var (name, bytes) in new[] { ("not ELF", notElf), ("truncated", truncated), ("big-endian", bigEndian) })
        {
            byte[] before = (byte[])bytes.Clone();
            Assert.ThrowsExactly<InvalidDataException>(() => GlibcxxWeakVersion.Patch(bytes), name);
            CollectionAssert.AreEqual(before, bytes, name);
        }
    }
}
