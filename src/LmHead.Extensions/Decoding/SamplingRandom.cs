namespace LmHead.Extensions.Decoding;

/// <summary>
/// The random source of the samplers: xoshiro256** seeded through SplitMix64. It is specified bit for bit, so a seed
/// gives the same draws on every machine, runtime and device. Not thread-safe: give each request or thread its own.
/// </summary>
public sealed class SamplingRandom
{
    private ulong _s0, _s1, _s2, _s3;

    /// <summary>Creates a generator from a seed.</summary>
    /// <param name="seed">Any 64-bit value.</param>
    public SamplingRandom(ulong seed)
    {
        Seed = seed;
        ulong x = seed;
        _s0 = SplitMix64(ref x);
        _s1 = SplitMix64(ref x);
        _s2 = SplitMix64(ref x);
        _s3 = SplitMix64(ref x);
    }

    /// <summary>The seed this generator started from.</summary>
    public ulong Seed { get; }

    /// <summary>Creates a generator seeded from the operating system's entropy source.</summary>
    /// <returns>An unpredictable generator.</returns>
    public static SamplingRandom CreateUnseeded() =>
        new(BitConverter.ToUInt64(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8)));

    /// <summary>
    /// Derives an independent generator for a stream (a row id, a request number) from a seed, so results do not depend
    /// on the order in which streams are processed.
    /// </summary>
    /// <param name="seed">The base seed.</param>
    /// <param name="stream">The stream key.</param>
    /// <returns>A new generator.</returns>
    public static SamplingRandom ForStream(ulong seed, ulong stream)
    {
        ulong x = seed ^ (stream * 0xD1342543DE82EF95UL);
        return new SamplingRandom(SplitMix64(ref x));
    }

    /// <summary>Returns the next 64 random bits.</summary>
    /// <returns>A uniformly distributed 64-bit value.</returns>
    public ulong NextUInt64()
    {
        ulong result = RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Returns a uniform double in [0, 1) with 53 random bits.</summary>
    /// <returns>A value in [0, 1).</returns>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    private static ulong RotateLeft(ulong x, int k) => (x << k) | (x >> (64 - k));

    private static ulong SplitMix64(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
