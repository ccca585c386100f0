using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// float32 → float16 and bfloat16, rounding to nearest with ties to even, 16 values per step with AVX2 (the kernel's
/// half-precision outputs: a scalar <c>(Half)</c> conversion of 50,257 logits took about 4% of a float16 projection).
/// float16 follows libtorch's <c>fp16_ieee_from_fp32_value</c>: two multiplications round the value at float16
/// precision, overflow to infinity and flush below the subnormals, and an added power of two aligns the rounding point;
/// a NaN becomes the quiet NaN 0x7E00 with its sign. bfloat16 adds 0x7FFF plus the lowest kept bit and keeps the upper
/// 16 bits; a NaN keeps its upper bits with the quiet bit set.
/// </summary>
internal static unsafe class HalfNarrowing
{
    /// <summary>Rounds <paramref name="count"/> float32 values to float16 or bfloat16 bit patterns.</summary>
    public static void Narrow(float* source, ushort* target, int count, bool brain)
    {
        int i = 0;
        if (Avx2.IsSupported)
        {
            for (; i <= count - 16; i += 16)
            {
                var low = Avx.LoadVector256(source + i);
                var high = Avx.LoadVector256(source + i + 8);
                var packed = brain
                    ? Avx2.PackUnsignedSaturate(BFloat16(low), BFloat16(high))
                    : Avx2.PackUnsignedSaturate(Float16(low), Float16(high));

                // The pack interleaves 128-bit lanes (low 0-3, high 0-3, low 4-7, high 4-7); put them back in order.
                Avx.Store(target + i, Avx2.Permute4x64(packed.AsUInt64(), 0b11_01_10_00).AsUInt16());
            }
        }

        for (; i < count; i++)
        {
            target[i] = brain ? ToBFloat16(source[i]) : ToFloat16(source[i]);
        }
    }

    /// <summary>float32 → bfloat16 bits in the low 16 bits of each lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> BFloat16(Vector256<float> value)
    {
        var bits = value.AsInt32();
        var lowestKept = Avx2.And(Avx2.ShiftRightLogical(bits, 16), Vector256.Create(1));
        var rounded = Avx2.Add(bits, Avx2.Add(lowestKept, Vector256.Create(0x7FFF)));
        var nan = Avx.CompareUnordered(value, value).AsInt32();
        return Avx2.ShiftRightLogical(Avx.BlendVariable(rounded.AsSingle(), Avx2.Or(bits, Vector256.Create(0x00400000)).AsSingle(), nan.AsSingle()).AsInt32(), 16);
    }

    /// <summary>float32 → float16 bits in the low 16 bits of each lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Float16(Vector256<float> value)
    {
        var bits = value.AsInt32();
        var magnitude = Avx.And(value, Vector256.Create(0x7FFFFFFF).AsSingle());
        var rounded = Avx.Multiply(Avx.Multiply(magnitude, Vector256.Create(BitConverter.UInt32BitsToSingle(0x77800000u))), Vector256.Create(BitConverter.UInt32BitsToSingle(0x08800000u)));
        var doubled = Avx2.Add(bits, bits);
        var bias = Avx2.Max(Avx2.And(doubled, Vector256.Create(unchecked((int)0xFF000000))).AsUInt32(), Vector256.Create(0x71000000u)).AsInt32();
        var aligned = Avx.Add(Avx2.Add(Avx2.ShiftRightLogical(bias, 1), Vector256.Create(0x07800000)).AsSingle(), rounded).AsInt32();
        var finite = Avx2.Add(Avx2.And(Avx2.ShiftRightLogical(aligned, 13), Vector256.Create(0x7C00)), Avx2.And(aligned, Vector256.Create(0x0FFF)));
        var nan = Avx2.CompareEqual(Avx2.Max(doubled.AsUInt32(), Vector256.Create(0xFF000001u)).AsInt32(), doubled);
        var sign = Avx2.ShiftRightLogical(Avx2.And(bits, Vector256.Create(unchecked((int)0x80000000))), 16);
        return Avx2.Or(Avx.BlendVariable(finite.AsSingle(), Vector256.Create(0x7E00).AsSingle(), nan.AsSingle()).AsInt32(), sign);
    }

    /// <summary>The scalar form of <see cref="Float16(Vector256{float})"/>.</summary>
    private static ushort ToFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        float magnitude = Math.Abs(value) * BitConverter.UInt32BitsToSingle(0x77800000u) * BitConverter.UInt32BitsToSingle(0x08800000u);
        uint doubled = bits + bits;
        uint bias = Math.Max(doubled & 0xFF000000u, 0x71000000u);
        uint aligned = BitConverter.SingleToUInt32Bits(BitConverter.UInt32BitsToSingle((bias >> 1) + 0x07800000u) + magnitude);
        uint finite = ((aligned >> 13) & 0x7C00u) + (aligned & 0x0FFFu);
        return (ushort)(((bits & 0x80000000u) >> 16) | (doubled > 0xFF000000u ? 0x7E00u : finite));
    }

    /// <summary>float32 → bfloat16, rounding to nearest, ties to even; NaN stays NaN.</summary>
    private static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return (ushort)((bits >> 16) | 0x40);
        }

        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }
}
