using System.IO.Compression;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// Checks every entry of a model zip against the CRC-32 its zip directory records. .NET's <see cref="ZipArchive"/> (and so
/// ML.NET's loader) does not check it, so a flipped bit inside a deflated entry that still inflates — in a projection's
/// stored weights, say — would load as a silently different model.
/// </summary>
internal static class ZipChecksums
{
    private static readonly uint[][] Tables = CreateTables();

    /// <summary>The first entry whose data does not match its recorded CRC-32, or <see langword="null"/>.</summary>
    public static (string Entry, string Problem)? FindMismatch(Stream zip)
    {
        using var archive = new ZipArchive(zip, ZipArchiveMode.Read, leaveOpen: true);
        byte[] buffer = new byte[1 << 16];
        foreach (var entry in archive.Entries)
        {
            using var stream = entry.Open();
            uint crc = ~0u;
            long length = 0;
            int read;
            while ((read = stream.Read(buffer)) > 0)
            {
                crc = Update(crc, buffer.AsSpan(0, read));
                length += read;
            }

            crc = ~crc;
            if (crc != entry.Crc32 || length != entry.Length)
            {
                return (entry.FullName,
                    $"its data does not match the zip directory (CRC-32 {crc:x8} and {length} bytes, recorded {entry.Crc32:x8} and {entry.Length} bytes)");
            }
        }

        return null;
    }

    /// <summary>The standard (zip) CRC-32, eight bytes per step.</summary>
    internal static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        var t = Tables;
        while (data.Length >= 8)
        {
            uint one = BitConverter.ToUInt32(data) ^ crc;
            uint two = BitConverter.ToUInt32(data[4..]);
            crc = t[7][one & 0xFF] ^ t[6][(one >> 8) & 0xFF] ^ t[5][(one >> 16) & 0xFF] ^ t[4][one >> 24]
                ^ t[3][two & 0xFF] ^ t[2][(two >> 8) & 0xFF] ^ t[1][(two >> 16) & 0xFF] ^ t[0][two >> 24];
            data = data[8..];
        }

        foreach (byte b in data)
        {
            crc = t[0][(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return crc;
    }

    private static uint[][] CreateTables()
    {
        var tables = new uint[8][];
        tables[0] = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            tables[0][i] = c;
        }

        for (int s = 1; s < 8; s++)
        {
            tables[s] = new uint[256];
            for (int i = 0; i < 256; i++)
            {
                tables[s][i] = (tables[s - 1][i] >> 8) ^ tables[0][tables[s - 1][i] & 0xFF];
            }
        }

        return tables;
    }
}
