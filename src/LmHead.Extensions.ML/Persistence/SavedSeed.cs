namespace LmHead.Extensions.MachineLearning;

/// <summary>A 64-bit seed stored as four floats holding 16 bits each (exact in a float).</summary>
internal static class SavedSeed
{
    public static float[] Encode(ulong seed) => [seed & 0xFFFF, (seed >> 16) & 0xFFFF, (seed >> 32) & 0xFFFF, seed >> 48];

    public static ulong Decode(float[] p) => (ulong)p[0] | ((ulong)p[1] << 16) | ((ulong)p[2] << 32) | ((ulong)p[3] << 48);
}
