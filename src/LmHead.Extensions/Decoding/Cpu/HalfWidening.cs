using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// float16 and bfloat16 ↔ float32 for the matrix-vector kernel, with AVX2 or AVX-512 integer operations (.NET 10
/// exposes no F16C or AVX-512 half conversion and no bfloat16 dot product). The kernel loads 16 weights at a time as 8 32-bit lanes and widens the low halves of the lanes (the
/// even-indexed weights) and the high halves (the odd-indexed ones) separately, against a copy of <c>h</c> in that
/// order (<see cref="Reorder(float*, float*, int, bool)"/>). bfloat16 is the upper half of a float32, so widening is a shift or a mask. float16 is
/// widened by moving sign, exponent and mantissa into float32 position (an arithmetic shift right by 3 with the value in
/// the high half, then a mask), which yields the value times 2^-112 for every finite input, subnormals included; the
/// kernel multiplies <c>h</c> by 2^112 once instead of rescaling every weight, which gives the very same products, and
/// checks the raw bits for infinities and NaNs (<see cref="HasInfinityOrNaN(Vector256{ushort}, Vector256{short})"/>). <see cref="Float16"/> is the exact
/// widening for the rows and hidden states that shortcut cannot take. The 64-byte (<see cref="Vector512"/>) forms do the
/// same on 32 weights per load, against <c>h</c> reordered in groups of 32.
/// </summary>
internal static unsafe class HalfWidening
{
    /// <summary>Keeps the sign (bit 31) and the 15 exponent and mantissa bits of a sign-extended float16 shifted left by 13.</summary>
    private const int SignExponentMantissa = unchecked((int)0x8FFFE000);

    /// <summary>The float16 exponent field after the shift by 13.</summary>
    private const int ShiftedExponent = 0x0F800000;

    /// <summary>The float32 exponent field.</summary>
    private const int SingleExponent = 0x7F800000;

    /// <summary>Hidden values below this magnitude can be multiplied by 2^112 without overflow (2^16 · 2^112 = 2^128).</summary>
    private const float PrescaleLimit = 65536f;

    /// <summary>2^112, the difference of the float32 and float16 exponent biases (127 - 15).</summary>
    internal static float BiasDifference => BitConverter.UInt32BitsToSingle(0x77800000u);

    /// <summary>2^-112: the factor <see cref="Float16Unscaled(ushort*)"/> leaves on every value.</summary>
    internal static float InverseBiasDifference => BitConverter.UInt32BitsToSingle(0x07800000u);

    /// <summary>Widens 8 bfloat16 values to float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> BFloat16(ushort* source) => Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(source), 16).AsSingle();

    /// <summary>Widens one bfloat16 value to float32.</summary>
    public static float BFloat16(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>The low halves of 8 lanes of bfloat16 pairs, widened.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> BFloat16Low(Vector256<int> pairs) => Avx2.ShiftLeftLogical(pairs, 16).AsSingle();

    /// <summary>The high halves of 8 lanes of bfloat16 pairs, widened.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> BFloat16High(Vector256<int> pairs) => Avx2.And(pairs, Vector256.Create(unchecked((int)0xFFFF0000))).AsSingle();

    /// <summary>The low halves of 8 lanes of float16 pairs as float32 numbers 2^112 times too small (exact for finite values).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Float16LowUnscaled(Vector256<int> pairs) => Float16HighUnscaled(Avx2.ShiftLeftLogical(pairs, 16));

    /// <summary>The high halves of 8 lanes of float16 pairs as float32 numbers 2^112 times too small (exact for finite values).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Float16HighUnscaled(Vector256<int> pairs) =>
        Avx2.And(Avx2.ShiftRightArithmetic(pairs, 3), Vector256.Create(SignExponentMantissa)).AsSingle();

    /// <summary>The low halves of 16 lanes of bfloat16 pairs, widened (AVX-512).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> BFloat16Low(Vector512<int> pairs) => Avx512F.ShiftLeftLogical(pairs, 16).AsSingle();

    /// <summary>The high halves of 16 lanes of bfloat16 pairs, widened (AVX-512).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> BFloat16High(Vector512<int> pairs) => Avx512F.And(pairs, Vector512.Create(unchecked((int)0xFFFF0000))).AsSingle();

    /// <summary>The low halves of 16 lanes of float16 pairs as float32 numbers 2^112 times too small (AVX-512; exact for finite values).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Float16LowUnscaled(Vector512<int> pairs) => Float16HighUnscaled(Avx512F.ShiftLeftLogical(pairs, 16));

    /// <summary>The high halves of 16 lanes of float16 pairs as float32 numbers 2^112 times too small (AVX-512; exact for finite values).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Float16HighUnscaled(Vector512<int> pairs) =>
        Avx512F.And(Avx512F.ShiftRightArithmetic(pairs, 3), Vector512.Create(SignExponentMantissa)).AsSingle();

    /// <summary>
    /// The low halves of 16 lanes of finite float16 pairs as their exact float32 values without any subnormal operation
    /// (AVX-512): <see cref="Float16HighNormal(Vector512{int})"/> of the pairs shifted up by 16.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Float16LowNormal(Vector512<int> pairs) => Float16HighNormal(Avx512F.ShiftLeftLogical(pairs, 16));

    /// <summary>
    /// The high halves of 16 lanes of finite float16 pairs as their exact float32 values, computed without a floating-point
    /// operation on a subnormal (each would cost a microcode assist): a normal float16 by adding 112 to the exponent of
    /// <see cref="Float16HighUnscaled(Vector512{int})"/>'s bits (an integer add); a subnormal or zero, <c>m · 2^-24</c>, by
    /// converting its mantissa bits (<c>m · 2^13</c> as an integer) to float32 and scaling by 2^-37 (both normal), then
    /// restoring the sign. Infinities and NaNs are not handled (the caller knows there are none).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Float16HighNormal(Vector512<int> pairs)
    {
        var unscaled = Avx512F.And(Avx512F.ShiftRightArithmetic(pairs, 3), Vector512.Create(SignExponentMantissa));
        var normal = Avx512F.Add(unscaled, Vector512.Create(112 << 23));
        var magnitude = Avx512F.And(unscaled, Vector512.Create(0x7FFFFFFF));
        var small = Avx512F.Multiply(Avx512F.ConvertToVector512Single(magnitude), Vector512.Create(BitConverter.UInt32BitsToSingle(0x2D000000u)));
        var subnormal = Avx512F.Or(small.AsInt32(), Avx512F.And(unscaled, Vector512.Create(int.MinValue)));
        var zeroExponent = Vector512.Equals(Avx512F.And(unscaled, Vector512.Create(ShiftedExponent)), Vector512<int>.Zero);
        return Vector512.ConditionalSelect(zeroExponent, subnormal, normal).AsSingle();
    }

    /// <summary>Rescales <see cref="Float16HighUnscaled(Vector512{int})"/>'s output by 2^112 and turns exponent 31 (infinity, NaN) into float32's exponent 255.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Float16Rescale(Vector512<float> unscaled)
    {
        var value = Avx512F.Multiply(unscaled, Vector512.Create(BiasDifference));
        var special = Avx512F.CompareEqual(Avx512F.And(unscaled.AsInt32(), Vector512.Create(ShiftedExponent)), Vector512.Create(ShiftedExponent));
        return value | Avx512F.And(special, Vector512.Create(SingleExponent)).AsSingle();
    }

    /// <summary><see cref="HasInfinityOrNaN(Vector256{ushort}, Vector256{short})"/> for 32 lanes (AVX-512).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool HasInfinityOrNaN(Vector512<ushort> unsignedMaximum, Vector512<short> signedMaximum) =>
        Avx512F.Or(
            Avx512BW.SubtractSaturate(unsignedMaximum, Vector512.Create((ushort)0xFBFF)),
            Avx512BW.SubtractSaturate(signedMaximum.AsUInt16(), Vector512.Create((ushort)0x7BFF))) != Vector512<ushort>.Zero;

    /// <summary><see cref="Float16(ushort*)"/> for 16 values (AVX-512): the same operations per lane, so the same bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Float16Wide(ushort* source)
    {
        var bits = Avx512F.And(Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Avx.LoadVector256((short*)source)), 13), Vector512.Create(SignExponentMantissa));
        var value = Avx512F.Multiply(bits.AsSingle(), Vector512.Create(BiasDifference));
        var special = Vector512.Equals(Avx512F.And(bits, Vector512.Create(ShiftedExponent)), Vector512.Create(ShiftedExponent));
        return value | Avx512F.And(special, Vector512.Create(SingleExponent)).AsSingle();
    }

    /// <summary>16 bfloat16 values widened (AVX-512): each one's bits shifted into the upper half of a float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> BFloat16Wide(ushort* source) =>
        Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Avx.LoadVector256(source)), 16).AsSingle();

    /// <summary>Widens 8 float16 values to float32: bit for bit what <c>(float)Half</c> gives, except that signalling NaNs stay signalling.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Float16(ushort* source)
    {
        var bits = Avx2.And(Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((short*)source), 13), Vector256.Create(SignExponentMantissa));
        var value = Avx.Multiply(bits.AsSingle(), Vector256.Create(BiasDifference));
        var special = Avx2.CompareEqual(Avx2.And(bits, Vector256.Create(ShiftedExponent)), Vector256.Create(ShiftedExponent));
        return Avx.Or(value, Avx2.And(special, Vector256.Create(SingleExponent)).AsSingle());
    }

    /// <summary>
    /// Widens 8 float16 values to float32 numbers 2^112 times too small: exact for finite values, subnormals included (3
    /// operations instead of <see cref="Float16(ushort*)"/>'s 7); infinities and NaNs come out as finite numbers, so the
    /// caller checks the bits first (<see cref="HasInfinityOrNaN(ushort*, long)"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Float16Unscaled(ushort* source) =>
        Avx2.And(Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((short*)source), 13), Vector256.Create(SignExponentMantissa)).AsSingle();

    /// <summary>Whether any of <paramref name="count"/> float16 values is an infinity or a NaN (exponent 31; <see cref="NonFiniteBits.Any{T}"/>).</summary>
    public static bool HasInfinityOrNaN(ushort* bits, long count) => NonFiniteBits.Any(new ReadOnlySpan<ushort>(bits, checked((int)count)), (ushort)0x7C00);

    /// <summary>
    /// Whether running maxima of float16 bits include an infinity or NaN (exponent 31): a negative one is at least
    /// 0xFC00 as an unsigned number, a positive one at least 0x7C00 as a signed number (negative numbers are below zero;
    /// the signed maximum must start at zero so that it never is negative itself).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool HasInfinityOrNaN(Vector256<ushort> unsignedMaximum, Vector256<short> signedMaximum) =>
        !Avx.TestZ(
            Avx2.Or(Avx2.SubtractSaturate(unsignedMaximum, Vector256.Create((ushort)0xFBFF)), Avx2.SubtractSaturate(signedMaximum.AsUInt16(), Vector256.Create((ushort)0x7BFF))),
            Vector256<ushort>.AllBitsSet);

    /// <summary>Whether every <c>|h[j]|</c> is below 2^16, so that <c>h · 2^112</c> is exact (false for NaN and infinity).</summary>
    public static bool CanPrescale(float* hidden, int count)
    {
        // As integers, the magnitude bits of every float below 2^16 are below those of 2^16, and those of infinity and
        // NaN above: one running maximum of the magnitude bits decides (8 lanes a step).
        const int LimitBits = 0x47800000;
        int j = 0;
        if (Avx2.IsSupported)
        {
            var magnitude = Vector256.Create(int.MaxValue);
            var maximum = Vector256<int>.Zero;
            for (; j <= count - 8; j += 8)
            {
                maximum = Avx2.Max(maximum, Avx2.And(Avx.LoadVector256((int*)hidden + j), magnitude));
            }

            if (Avx2.MoveMask(Avx2.CompareGreaterThan(maximum, Vector256.Create(LimitBits - 1)).AsByte()) != 0)
            {
                return false;
            }
        }

        for (; j < count; j++)
        {
            if (!(Math.Abs(hidden[j]) < PrescaleLimit))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Copies <c>h</c> with each group of 16 values reordered as its 8 even-indexed then its 8 odd-indexed ones: the
    /// order in which the kernel widens a 32-byte load of 16 weights (the low, then the high halves of its 32-bit lanes).
    /// With <paramref name="prescale"/> the copy is <c>h · 2^112</c> (exact: a power of two, and no overflow after
    /// <see cref="CanPrescale"/>). Columns past the last full group of 16 are not written (the kernel uses scalar code there).
    /// </summary>
    public static void Reorder(float* hidden, float* ordered, int count, bool prescale) => Reorder(hidden, ordered, count, prescale, 16);

    /// <summary>
    /// <see cref="Reorder(float*, float*, int, bool)"/> for loads of <paramref name="group"/> weights: 16 for a 32-byte
    /// load (<see cref="Vector256"/>), 32 for a 64-byte one (<see cref="Vector512"/>, whose 16 lanes hold 16 pairs).
    /// </summary>
    public static void Reorder(float* hidden, float* ordered, int count, bool prescale, int group)
    {
        float scale = prescale ? BiasDifference : 1f;
        int half = group / 2;
        int start = 0;
        if (group == 32 && Avx512F.IsSupported)
        {
            // The even and the odd lanes of two 16-lane vectors, by two-source permutes; the same values as the loop below.
            var evens = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            var odds = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
            var factor = Vector512.Create(scale);
            for (; start + 32 <= count; start += 32)
            {
                var low = Avx512F.LoadVector512(hidden + start);
                var high = Avx512F.LoadVector512(hidden + start + 16);
                Avx512F.Store(ordered + start, Avx512F.Multiply(Avx512F.PermuteVar16x32x2(low, evens, high), factor));
                Avx512F.Store(ordered + start + 16, Avx512F.Multiply(Avx512F.PermuteVar16x32x2(low, odds, high), factor));
            }
        }
        else if (group == 16 && Avx2.IsSupported)
        {
            // Shuffle takes lanes 0 and 2 (or 1 and 3) of each 128-bit half of both sources; Permute4x64 puts the 64-bit pairs in order.
            var factor = Vector256.Create(scale);
            for (; start + 16 <= count; start += 16)
            {
                var low = Avx.LoadVector256(hidden + start);
                var high = Avx.LoadVector256(hidden + start + 8);
                var even = Avx2.Permute4x64(Avx.Shuffle(low, high, 0b10_00_10_00).AsDouble(), 0b11_01_10_00).AsSingle();
                var odd = Avx2.Permute4x64(Avx.Shuffle(low, high, 0b11_01_11_01).AsDouble(), 0b11_01_10_00).AsSingle();
                Avx.Store(ordered + start, Avx.Multiply(even, factor));
                Avx.Store(ordered + start + 8, Avx.Multiply(odd, factor));
            }
        }

        for (; start + group <= count; start += group)
        {
            for (int i = 0; i < half; i++)
            {
                ordered[start + i] = hidden[start + (2 * i)] * scale;
                ordered[start + half + i] = hidden[start + (2 * i) + 1] * scale;
            }
        }
    }

    /// <summary>
    /// A new 64-byte-aligned copy of <paramref name="count"/> values of <c>X · 2^112</c> (<paramref name="scaled"/>, in the
    /// reordered layout) times 2^-<see cref="Float16WeightScan.CopyExponent"/>: <c>X · 2^102</c>, exact (a power of two),
    /// the input that the scan's copies of flagged chunks are multiplied by (<see cref="Float16WeightFacts.Copies"/>).
    /// The caller frees it with <see cref="NativeMemory.AlignedFree"/>.
    /// </summary>
    public static float* LiftedForCopies(float* scaled, int count)
    {
        var lifted = (float*)NativeMemory.AlignedAlloc((nuint)count * sizeof(float), 64);
        float factor = 1f / (1 << Float16WeightScan.CopyExponent);
        int j = 0;
        for (; j <= count - 16; j += 16)
        {
            Vector512.Store(Vector512.Load(scaled + j) * factor, lifted + j);
        }

        for (; j < count; j++)
        {
            lifted[j] = scaled[j] * factor;
        }

        return lifted;
    }

    /// <summary>Widens 8 float16 or bfloat16 values with the kernel's vector code (scalar code without AVX2), for tests.</summary>
    public static Vector256<float> Widen(Vector128<ushort> bits, bool brain)
    {
        ushort* buffer = stackalloc ushort[8];
        bits.Store(buffer);
        if (MatrixVectorKernel.IsAccelerated)
        {
            return brain ? BFloat16(buffer) : Float16(buffer);
        }

        float* wide = stackalloc float[8];
        for (int i = 0; i < 8; i++)
        {
            wide[i] = brain ? BFloat16(buffer[i]) : (float)BitConverter.UInt16BitsToHalf(buffer[i]);
        }

        return Vector256.Load(wide);
    }
}
