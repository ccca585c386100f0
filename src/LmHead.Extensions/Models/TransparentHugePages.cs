using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// Asks Linux to back a large, not yet touched CPU tensor with 2 MiB pages (<c>madvise(MADV_HUGEPAGE)</c>) before a
/// loader fills it. Filling fresh memory page by page costs one page fault per 4 KiB; on the project's machines that
/// made reading a 0.5B model's 1 GB of weights into new tensors 4x slower than reading the same files into a reused
/// buffer, and 2 MiB pages remove the difference. Only advice: on other systems, with transparent huge pages set to
/// <c>never</c>, or when the call fails, nothing changes.
/// </summary>
internal static partial class TransparentHugePages
{
    private const int AdviseHugePage = 14; // MADV_HUGEPAGE
    private const long HugePageBytes = 2L << 20;

    /// <summary>Advises huge pages for the whole 2 MiB-aligned part of <paramref name="tensor"/>'s memory.</summary>
    internal static unsafe void Advise(Tensor tensor)
    {
        if (!OperatingSystem.IsLinux() || tensor.device.type != DeviceType.CPU || !tensor.is_contiguous())
        {
            return;
        }

        long bytes = tensor.NumberOfElements * tensor.ElementSize;
        if (bytes < 2 * HugePageBytes)
        {
            return;
        }

        long start = (long)Gpt2DecodeStep.Address(tensor);
        long first = (start + HugePageBytes - 1) & ~(HugePageBytes - 1);
        long end = (start + bytes) & ~(HugePageBytes - 1);
        try
        {
            _ = Madvise((nint)first, (nuint)(end - first), AdviseHugePage);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            // A Linux without a C library named libc: the advice is only an optimisation.
        }
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);
}
