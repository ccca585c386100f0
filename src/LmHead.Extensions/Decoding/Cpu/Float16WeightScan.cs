using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// What the float16 kernels need to know about a weight matrix, scanned once per version of its storage
/// (<see cref="TensorVersion"/>) instead of at every read: whether it holds an infinity or NaN, and which chunks of 32
/// columns of which rows hold a subnormal.
/// </summary>
/// <remarks>
/// <para>The kernels widen float16 with a shortcut that reads an infinity or NaN as a large finite number, so without a
/// scan they keep running maxima of the raw bits on every load to notice one (two of the seven operations per 64-byte
/// load); weights known to be finite skip those. The same shortcut turns a float16 subnormal (magnitude below 2^-14)
/// into a float32 subnormal, and every multiply-add with a subnormal operand costs a microcode assist on the x86 CPUs
/// measured here: with the 0.24 % of subnormals of a matrix drawn from N(0, 0.02²) (as Hugging Face initialises GPT-2),
/// the float16 decode step took 1.3x the time of the same model with those weights zeroed (docs/benchmarks.md, run Y).
/// A chunk flagged here is widened exactly into normal float32 values instead and multiplied by the unscaled input,
/// which gives the same products and so the same sums. While few chunks are flagged (at most one in
/// <see cref="MaximumCopiedShare"/>) the scan also copies each flagged chunk times 2^<see cref="CopyExponent"/>
/// (<see cref="Float16WeightFacts.Copies"/>), so that the one-row loops read it without a branch (the branch was
/// mispredicted on most flagged chunks: docs/benchmarks.md, run AB).</para>
/// <para>Facts are "unknown" (<see cref="Float16WeightFacts.Unknown"/>: the kernels keep checking and never flag) for
/// anything but a contiguous two-dimensional float16 CPU tensor whose version can be read: inference tensors, other
/// dtypes, or where libtorch's version function is unavailable. A new version (any in-place operation on the tensor or
/// a view of it: loading, training, <c>copy_</c>) triggers one new scan. A write to the tensor's memory that bypasses
/// libtorch (<see cref="Tensor.bytes"/>, <c>data&lt;T&gt;()</c>, a pointer) after the first use is not seen;
/// <c>LMHEAD_FLOAT16_SCAN_ONCE=0</c> turns scans off (the kernels then check every load, and take the assists).</para>
/// </remarks>
internal sealed class Float16WeightScan(Tensor weight)
{
    /// <summary>Columns per flagged chunk: one 64-byte load of float16 weights.</summary>
    public const int ChunkColumns = 32;

    /// <summary>Bytes per chunk: one 64-byte load, one cache line.</summary>
    public const int ChunkBytes = ChunkColumns * sizeof(ushort);

    /// <summary>The flagged chunks' copies hold their weights times 2^10: the smallest float16 subnormal, 2^-24, becomes 2^-14, normal.</summary>
    public const int CopyExponent = 10;

    /// <summary>Copies are made while at most one chunk in this many is flagged (at GPT-2's initialisation one in 13 is).</summary>
    public const int MaximumCopiedShare = 8;

    // A tensor's dtype, device and strides do not change; asked once (each is a call into TorchSharp).
    private readonly Lazy<bool> _eligible = new(() =>
        weight.dtype == ScalarType.Float16 && weight.device_type == DeviceType.CPU && weight.dim() == 2 && weight.is_contiguous()
        && weight.NumberOfElements * sizeof(ushort) <= int.MaxValue);

    private Scan? _last;

    /// <summary>
    /// Whether scans copy flagged chunks (<see cref="Float16WeightFacts.Copies"/>) and the one-row kernels read them;
    /// <c>LMHEAD_FLOAT16_COPIES=0</c> turns them off (the copies take about 7.5 % more memory at GPT-2's initialisation;
    /// the sums are the same either way).
    /// </summary>
    internal static bool CopiesEnabled { get; set; } = Environment.GetEnvironmentVariable("LMHEAD_FLOAT16_COPIES") != "0";

    /// <summary>Whether scans may stand for later reads; false keeps the per-load check (tests compare both).</summary>
    internal static bool Enabled { get; set; } = Environment.GetEnvironmentVariable("LMHEAD_FLOAT16_SCAN_ONCE") != "0";

    /// <summary>The facts at the tensor's current version (scanning it when that is new), or <see cref="Float16WeightFacts.Unknown"/>.</summary>
    /// <remarks>The masks stay valid while the returned facts are in use (they live in a pinned array the scan keeps).</remarks>
    public Float16WeightFacts Current()
    {
        if (!Enabled || weight.IsInvalid || !_eligible.Value || !TensorVersion.TryRead(weight, out long version))
        {
            return Float16WeightFacts.Unknown;
        }

        var last = Volatile.Read(ref _last);
        if (last is null || last.Version != version)
        {
            last = Make(version);
            Volatile.Write(ref _last, last);
        }

        return last.Facts;
    }

    private unsafe Scan Make(long version)
    {
        var bits = MemoryMarshal.Cast<byte, ushort>(weight.bytes);
        if (NonFiniteBits.Any(bits, (ushort)0x7C00))
        {
            return new Scan(version, Float16WeightFacts.Unknown, null, null, null);
        }

        int rows = checked((int)weight.shape[0]), columns = checked((int)weight.shape[1]);
        int chunks = columns / ChunkColumns, words = (chunks + 63) / 64;
        ulong[]? masks = null;
        for (int r = 0; r < rows; r++)
        {
            var row = bits.Slice(r * columns, columns);
            for (int c = 0; c < chunks; c++)
            {
                if (HasSubnormal(row.Slice(c * ChunkColumns, ChunkColumns)))
                {
                    masks ??= GC.AllocateArray<ulong>(rows * words, pinned: true);
                    masks[(r * words) + (c / 64)] |= 1UL << (c % 64);
                }
            }
        }

        if (masks is null)
        {
            return new Scan(version, new Float16WeightFacts(finite: true, null, 0), null, null, null);
        }

        var (copies, starts) = ScaledCopies(bits, masks, rows, columns, words);
        var facts = new Float16WeightFacts(
            finite: true,
            (ulong*)Unsafe.AsPointer(ref masks[0]),
            words,
            copies is null ? null : (byte*)(((nint)Unsafe.AsPointer(ref copies[0]) + 63) & ~(nint)63),
            starts is null ? null : (int*)Unsafe.AsPointer(ref starts[0]));
        return new Scan(version, facts, masks, copies, starts);
    }

    /// <summary>
    /// The flagged chunks with every weight times 2^<see cref="CopyExponent"/>, row after row, 64 bytes each (in an array
    /// with room to align them), and where each row's copies start (in chunks); null when there are more than
    /// 1 / <see cref="MaximumCopiedShare"/> of the chunks (the memory would grow by as much) or when a flagged chunk holds a
    /// weight of magnitude 64 or more (its copy would not fit in float16).
    /// </summary>
    private static unsafe (byte[]? Copies, int[]? Starts) ScaledCopies(ReadOnlySpan<ushort> bits, ulong[] masks, int rows, int columns, int words)
    {
        if (!CopiesEnabled)
        {
            return (null, null);
        }

        long flagged = 0;
        foreach (ulong word in masks)
        {
            flagged += (long)ulong.PopCount(word);
        }

        int chunks = columns / ChunkColumns;
        if (flagged * MaximumCopiedShare > (long)rows * chunks || flagged * ChunkBytes > int.MaxValue - 64)
        {
            return (null, null);
        }

        var copies = GC.AllocateArray<byte>((int)(flagged * ChunkBytes) + 63, pinned: true);
        var starts = GC.AllocateArray<int>(rows + 1, pinned: true);
        int offset = (int)((((nint)Unsafe.AsPointer(ref copies[0]) + 63) & ~(nint)63) - (nint)Unsafe.AsPointer(ref copies[0]));
        var target = MemoryMarshal.Cast<byte, ushort>(copies.AsSpan(offset));
        int copied = 0;
        for (int r = 0; r < rows; r++)
        {
            starts[r] = copied;
            for (int c = 0; c < chunks; c++)
            {
                if ((masks[(r * words) + (c / 64)] & (1UL << (c % 64))) == 0)
                {
                    continue;
                }

                var chunk = bits.Slice((r * columns) + (c * ChunkColumns), ChunkColumns);
                var copy = target.Slice(copied * ChunkColumns, ChunkColumns);
                for (int i = 0; i < ChunkColumns; i++)
                {
                    if (((chunk[i] >> 10) & 0x1F) > 30 - CopyExponent)
                    {
                        return (null, null);
                    }

                    // Exact: a float16 times a power of two that stays in float16's normal range (subnormals become normal).
                    copy[i] = BitConverter.HalfToUInt16Bits((Half)((float)BitConverter.UInt16BitsToHalf(chunk[i]) * (1 << CopyExponent)));
                }

                copied++;
            }
        }

        starts[rows] = copied;
        return (copies, starts);
    }

    /// <summary>Whether any of 32 values is a subnormal (exponent 0, mantissa not 0; zeros cost no assist).</summary>
    internal static bool HasSubnormal(ReadOnlySpan<ushort> chunk)
    {
        // (bits & 0x7FFF) - 1 below 0x3FF exactly for a mantissa 1-1023 under a zero exponent (0 wraps to 0xFFFF).
        var magnitude = Vector256.Create((ushort)0x7FFF);
        var lo = Vector256.Create(chunk[..16]) & magnitude;
        var hi = Vector256.Create(chunk[16..]) & magnitude;
        var limit = Vector256.Create((ushort)0x3FF);
        return Vector256.LessThanAny(lo - Vector256<ushort>.One, limit) || Vector256.LessThanAny(hi - Vector256<ushort>.One, limit);
    }

    // The arrays are kept only so that the pinned memory lives as long as the facts that point into it.
    private sealed record Scan(long Version, Float16WeightFacts Facts, ulong[]? Masks, byte[]? Copies, int[]? Starts);
}

/// <summary>
/// What <see cref="Float16WeightScan"/> found in a float16 matrix: whether it is known to hold no infinity or NaN, and
/// for each row a bit per chunk of 32 columns (<see cref="Float16WeightScan.ChunkColumns"/>; bit <c>c % 64</c> of word
/// <c>row · WordsPerRow + c / 64</c>) that is set when the chunk holds a subnormal. Null masks: no chunk does.
/// </summary>
internal readonly unsafe struct Float16WeightFacts(bool finite, ulong* subnormalChunks, int wordsPerRow, byte* scaledCopies = null, int* copyStarts = null)
{
    /// <summary>Nothing known: the kernels check every load for infinities and NaNs and flag no chunk.</summary>
    public static Float16WeightFacts Unknown => default;

    /// <summary>Whether the matrix is known to hold no infinity or NaN.</summary>
    public bool Finite => finite;

    /// <summary>The rows' chunk masks, or null when no chunk holds a subnormal (or nothing is known).</summary>
    public ulong* SubnormalChunks => subnormalChunks;

    /// <summary>64-bit words per row in <see cref="SubnormalChunks"/>.</summary>
    public int WordsPerRow => wordsPerRow;

    /// <summary>The masks of row <paramref name="row"/> onwards (null when there are none).</summary>
    public ulong* Row(long row) => subnormalChunks == null ? null : subnormalChunks + (row * wordsPerRow);

    /// <summary>Whether the flagged chunks have copies times 2^<see cref="Float16WeightScan.CopyExponent"/> (<see cref="Copies"/>).</summary>
    public bool HasCopies => scaledCopies != null;

    /// <summary>
    /// The copies of row <paramref name="row"/>'s flagged chunks, 64-byte aligned, one after another in column order and
    /// followed by the next rows' (null without copies): every weight times 2^<see cref="Float16WeightScan.CopyExponent"/>,
    /// so that the widening shortcut makes them normal float32 numbers; multiplied by <c>X · 2^102</c> instead of
    /// <c>X · 2^112</c> they give the same products as the original chunk.
    /// </summary>
    public byte* Copies(long row) => scaledCopies == null ? null : scaledCopies + ((long)copyStarts[row] * Float16WeightScan.ChunkBytes);
}
