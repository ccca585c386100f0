using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// <c>exp(x)</c> for 8 float32 values at once, for softmax weights where <c>x ≤ 0</c>: range reduction
/// <c>x = n·ln 2 + r</c>, a degree-6 polynomial for <c>e^r</c> and the exponent bits for <c>2^n</c>. Relative error
/// about 2 ulp, a few times cheaper than <see cref="Vector256.Exp(Vector256{float})"/>; inputs below −87 (including
/// −infinity, a removed token) give exactly 0, as they would underflow float32 anyway.
/// </summary>
internal static class FastExp
{
    /// <summary>Computes <c>e^x</c> lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        var underflow = Vector256.LessThan(x, Vector256.Create(-87f));
        x = Vector256.Max(x, Vector256.Create(-87f));
        x = Vector256.Min(x, Vector256.Create(88f));
        var n = Vector256.Round(x * Vector256.Create(1.44269504088896341f));
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-0.693359375f), x);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(2.12194440e-4f), r);
        var p = Vector256.Create(1.9875691500e-4f);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.3981999507e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(8.3334519073e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(4.1665795894e-2f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.6666665459e-1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(5.0000001201e-1f));
        p = Vector256.FusedMultiplyAdd(p, r * r, r + Vector256<float>.One);
        var scale = ((Vector256.ConvertToInt32(n) + Vector256.Create(127)) << 23).AsSingle();
        return Vector256.AndNot(p * scale, underflow);
    }

    /// <summary>Computes <c>e^x</c> for 16 lanes (AVX-512), with the same steps and constants as the 8-lane version.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        var underflow = Vector512.LessThan(x, Vector512.Create(-87f));
        var p = Reduced(Vector512.Max(x, Vector512.Create(-87f)), out var n);
        var scale = ((Vector512.ConvertToInt32(n) + Vector512.Create(127)) << 23).AsSingle();
        return Vector512.AndNot(p * scale, underflow);
    }

    /// <summary>
    /// <c>e^x</c> for 16 lanes with AVX-512's <c>vscalefps</c> for the <c>2^n</c> step: the same range reduction and
    /// polynomial as <see cref="Exp(Vector512{float})"/>, so the same result for <c>x ≥ −87</c>, in about two thirds of
    /// the instructions (no conversion to integers, no exponent arithmetic, no underflow mask). Below −87 it gives the
    /// tiny (subnormal or zero) value <c>vscalefps</c> rounds to instead of exactly 0; −infinity gives 0. Only when
    /// <see cref="Avx512F.IsSupported"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ExpScaled(Vector512<float> x)
    {
        // −150 keeps −infinity out of the range reduction (−inf − −inf would be NaN) and still scales to exactly 0
        // (2^−216 is below the smallest subnormal), so a removed token weighs nothing.
        x = Vector512.Max(x, Vector512.Create(-150f));
        var p = Reduced(x, out var n);
        return Avx512F.Scale(p, n);
    }

    /// <summary>
    /// The 16-lane range reduction and polynomial: <c>n = round(x / ln 2)</c> (after capping x at 88) and
    /// <c>e^(x − n·ln 2)</c>, so that <c>e^x = p · 2^n</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Reduced(Vector512<float> x, out Vector512<float> n)
    {
        x = Vector512.Min(x, Vector512.Create(88f));
        n = Vector512.Round(x * Vector512.Create(1.44269504088896341f));
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
        var p = Vector512.Create(1.9875691500e-4f);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.3981999507e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894e-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459e-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201e-1f));
        return Vector512.FusedMultiplyAdd(p, r * r, r + Vector512<float>.One);
    }

    /// <summary>The smallest input <see cref="ExpDouble"/> takes: below it <c>2^n</c> would need a subnormal scale.</summary>
    public const double DoubleMinimum = -708;

    /// <summary>
    /// <c>e^x</c> for 8 float64 lanes with <c>DoubleMinimum ≤ x ≤ 0</c> (the caller checks): <c>x = n·ln 2 + r</c> with
    /// ln 2 in two parts, the degree-13 Taylor polynomial of <c>e^r</c> for <c>|r| ≤ ln 2 / 2</c> (truncation below
    /// 10^-17), and the exponent bits for <c>2^n</c>. Within about 2 ulp of <see cref="Math.Exp"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<double> ExpDouble(Vector512<double> x)
    {
        var n = Vector512.Round(x * Vector512.Create(1.4426950408889634));
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-6.93147180369123816490e-01), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-1.90821492927058770002e-10), r);
        var p = Vector512.Create(1.0 / 6227020800);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 479001600));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 39916800));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 3628800));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 362880));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 40320));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 5040));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 720));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 120));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 24));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 6));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5));
        p = Vector512.FusedMultiplyAdd(p, r * r, r + Vector512<double>.One);
        var scale = ((Vector512.ConvertToInt64(n) + Vector512.Create(1023L)) << 52).AsDouble();
        return p * scale;
    }
}
