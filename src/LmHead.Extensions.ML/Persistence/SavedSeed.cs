namespace LmHead.Extensions.MachineLearning;

/// <summary>A 64-bit seed stored as four floats holding 16 bits each (exact in a float).</summary>
internal static class SavedSeed
{
    public static float[] Encode(ulong seed) => [seed & 0xFFFF, (seed >> 16) & 0xFFFF, (seed >> 32) & 0xFFFF, seed >> 48];

    /// <summary>Decodes a saved seed, checking the four values (the table is data in the zip).</summary>
    public static ulong Decode(string contract, float[] p)
    {
        SavedParameterChecks.RequireLength(contract, p, 4);
        ulong seed = 0;
        for (int i = 0; i < 4; i++)
        {
            seed |= (ulong)SavedParameterChecks.RequireInteger(contract, p, i, $"seed word {i}", 0, ushort.MaxValue) << (16 * i);
        }

        return seed;
    }
}
