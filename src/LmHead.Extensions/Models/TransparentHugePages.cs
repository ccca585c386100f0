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
        if (Enabled && OperatingSystem.IsLinux() && device.type == DeviceType.CPU && HugePageBytes % elementSize == 0
            && t_arena?.TryTake(shape, count, dtype, elementSize) is { } packed)
        {
            return packed;
        }

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
        ZeroInPlace(tensor);
        return tensor;
    }

    /// <summary>Fills with zeros; <c>zero_</c> hands back a second handle to the same tensor, released here.</summary>
    private static void ZeroInPlace(Tensor tensor)
    {
        using var same = tensor.zero_();
    }

    /// <summary>
    /// Until the returned scope is disposed, <see cref="Zeros"/> on this thread packs tensors of up to half a block one
    /// after another into shared blocks of <see cref="Arena.BlockBytes"/> per dtype, each starting on a 2 MiB boundary
    /// and advised whole, instead of giving each its own buffer: a tensor's tail past its last whole 2 MiB block no longer
    /// stays on 4 KiB pages (GPT-2-small's float16 layers were 74 % on 2 MiB pages that way, its float32 layers 89 %, and
    /// its 1.1 MiB float16 attention projections not at all). A model's constructor opens one, so its weights share
    /// blocks with no other model's: a block's memory goes when the last of its tensors is disposed. Never-touched
    /// space at a block's end is address space only.
    /// </summary>
    internal static IDisposable PackTogether() => t_arena = new Arena(t_arena, PackingEnabled);

    /// <summary>Whether <see cref="PackTogether"/> packs (the benchmarks compare both); a scope that does not leaves <see cref="Zeros"/> as it is.</summary>
    internal static bool PackingEnabled { get; set; } = true;

    [ThreadStatic]
    private static Arena? t_arena;

    /// <summary>The blocks of one <see cref="PackTogether"/> scope.</summary>
    private sealed class Arena(Arena? previous, bool packing) : IDisposable
    {
        /// <summary>Bytes per block: 32 whole 2 MiB pages.</summary>
        public const long BlockBytes = 64L << 20;

        private readonly Dictionary<ScalarType, (Tensor Block, long Used)> _current = [];
        private readonly List<Tensor> _blocks = [];

        /// <summary>A zero-filled view of <paramref name="count"/> elements in the current block of the dtype (a new block when it is full), or null for a tensor of more than half a block.</summary>
        public unsafe Tensor? TryTake(long[] shape, long count, ScalarType dtype, long elementSize)
        {
            long capacity = BlockBytes / elementSize;
            if (!packing || count * elementSize > BlockBytes / 2)
            {
                return null;
            }

            if (!_current.TryGetValue(dtype, out var current) || current.Used + count > capacity)
            {
                using var buffer = empty(capacity + (HugePageBytes / elementSize), dtype, CPU);
                long start = (long)Gpt2DecodeStep.Address(buffer);
                long skip = (((start + HugePageBytes - 1) & ~(HugePageBytes - 1)) - start) / elementSize;
                var block = buffer.narrow(0, skip, capacity);
                Advise(block);
                _blocks.Add(block);
                current = (block, 0);
            }

            using var slice = current.Block.narrow(0, current.Used, count);
            var tensor = slice.view(shape);
            // Each tensor starts on a 64-byte line, as libtorch's own allocations do.
            long line = 64 / Math.Min(64, elementSize);
            _current[dtype] = (current.Block, Math.Min(capacity, (current.Used + count + line - 1) / line * line));
            ZeroInPlace(tensor);
            return tensor;
        }

        public void Dispose()
        {
            // The tensors taken keep the blocks' memory alive; only this scope's handles go.
            foreach (var block in _blocks)
            {
                block.Dispose();
            }

            _blocks.Clear();
            _current.Clear();
            t_arena = previous;
        }
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
