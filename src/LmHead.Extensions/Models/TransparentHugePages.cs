using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// Asks Linux to back a large, not yet touched CPU tensor with 2 MiB pages (<c>madvise(MADV_HUGEPAGE)</c>) before a
/// loader fills it. Filling fresh memory page by page costs one page fault per 4 KiB; on the project's machines that
/// made reading a 0.5B model's 1 GB of weights into new tensors 4x slower than reading the same files into a reused
/// buffer, and 2 MiB pages remove the difference. Only advice: on other systems, with transparent huge pages set to
/// <c>never</c>, or when the call fails, nothing changes; <c>LMHEAD_HUGE_PAGES=0</c> in the environment turns the advice off.
/// </summary>
internal static partial class TransparentHugePages
{
    private const int AdviseHugePage = 14; // MADV_HUGEPAGE
    private const long HugePageBytes = 2L << 20;

    /// <summary>Whether to ask for 2 MiB pages: unless the environment variable <c>LMHEAD_HUGE_PAGES</c> is <c>0</c> (read at every call).</summary>
    internal static bool Enabled => Environment.GetEnvironmentVariable("LMHEAD_HUGE_PAGES") != "0";

    /// <summary>
    /// A zero-filled tensor whose memory is advised before the zeros touch it, so that Linux backs it with 2 MiB pages
    /// from the first fault on (a decode step streams every weight once: run W-half measured a float16 GPT-2-small step
    /// 9-14% faster in thread CPU time with the weights on 2 MiB pages). On Linux, a CPU tensor of at least 2 MiB is a
    /// view that starts on a 2 MiB boundary of a buffer 2 MiB longer, so that all its whole 2 MiB blocks can be advised
    /// (libtorch aligns to 64 bytes, which lost up to one block per tensor: a third of a 3.4 MiB GPT-2 attention
    /// weight); the slack is address space only, never touched, and the tail past the last whole block stays on 4 KiB
    /// pages (advising it would make Linux fault in a whole 2 MiB page for it). Elsewhere, a plain <c>zeros</c>.
    /// </summary>
    internal static unsafe Tensor Zeros(long[] shape, ScalarType dtype, Device device)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        using var probe = empty(0, dtype, device);
        long elementSize = probe.ElementSize;
        if (!Enabled || !OperatingSystem.IsLinux() || device.type != DeviceType.CPU || count * elementSize < HugePageBytes || HugePageBytes % elementSize != 0)
        {
            return zeros(shape, dtype, device);
        }

        using var buffer = empty(count + (HugePageBytes / elementSize), dtype, device);
        long start = (long)Gpt2DecodeStep.Address(buffer);
        long skip = (((start + HugePageBytes - 1) & ~(HugePageBytes - 1)) - start) / elementSize;
        using var aligned = buffer.narrow(0, skip, count);
        var tensor = aligned.view(shape);
        Advise(tensor);
        using (tensor.zero_())
        {
            // zero_ hands back a second handle to the same tensor; released here, as is the narrowed one, so that the
            // caller's handle is the only one left (before, both waited for the finalizer).
        }

        return tensor;
    }

    /// <summary>Advises huge pages for the whole 2 MiB-aligned part of <paramref name="tensor"/>'s memory.</summary>
    internal static unsafe void Advise(Tensor tensor)
    {
        if (!Enabled || !OperatingSystem.IsLinux() || tensor.device.type != DeviceType.CPU || !tensor.is_contiguous())
        {
            return;
        }

        long bytes = tensor.NumberOfElements * tensor.ElementSize;
        if (bytes < HugePageBytes)
        {
            return;
        }

        long start = (long)Gpt2DecodeStep.Address(tensor);
        long first = (start + HugePageBytes - 1) & ~(HugePageBytes - 1);
        long end = (start + bytes) & ~(HugePageBytes - 1);
        if (end <= first)
        {
            return;
        }

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
