using System.Buffers.Binary;
using System.IO.Compression;
using System.Reflection;
using System.Text;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// Finds the zip entry that stopped ML.NET from loading a model. ML.NET reports a damaged entry as a
/// <see cref="TargetInvocationException"/> (nested once per transform level) around a <see cref="FormatException"/>
/// that names no entry, so after a failed load the file is read again and every entry is checked against the
/// layouts ML.NET writes: its model streams (<c>*.key</c>), its binary data views (<c>Schema</c>, <c>*.idv</c>), and
/// the entries each directory must hold. Runs only when loading has already failed, so a good file pays nothing.
/// </summary>
internal static class SavedModelDiagnosis
{
    private const ulong ModelSignature = 0x4C45444F4D004C4DUL;   // "ML\0MODEL"
    private const ulong ModelTailSignature = 0x4D4C004D4F44454CUL;
    private const ulong DataViewSignature = 0x00425644004C4D43UL; // "CML\0DVB\0"
    private const ulong DataViewTailSignature = 0x434D4C0044564200UL;
    private const int HeaderSize = 256;
    private const string TransformerDirectory = "TransformerChain";

    /// <summary>Entries up to this size are read whole, so their strings and assembly name can be checked too.</summary>
    private const long WholeEntryLimit = 1 << 20;

    /// <summary>The first damaged or missing entry and what is wrong with it, or <see langword="null"/> when none is found.</summary>
    public static (string Entry, string Problem)? FindDamagedEntry(Stream zip)
    {
        ZipArchive archive;
        HashSet<string> names;
        try
        {
            archive = new ZipArchive(zip, ZipArchiveMode.Read, leaveOpen: true);
            names = archive.Entries.Select(e => e.FullName).ToHashSet(StringComparer.Ordinal);
        }
        catch (InvalidDataException ex)
        {
            return ("(zip directory)", $"the file is not a readable zip archive ({ex.Message})");
        }

        using (archive)
        {
            foreach (var entry in archive.Entries)
            {
                if (CheckEntry(entry, names) is { } problem)
                {
                    return problem;
                }
            }

            // A directory of the saved transformer without its Model.key (ML.NET writes one in every directory it creates).
            foreach (string name in names.Where(n => n.StartsWith(TransformerDirectory + "/", StringComparison.Ordinal)))
            {
                for (int slash = name.IndexOf('/', StringComparison.Ordinal); slash > 0; slash = name.IndexOf('/', slash + 1))
                {
                    string key = name[..slash] + "/Model.key";
                    if (!names.Contains(key))
                    {
                        return (key, "the entry is missing (its directory holds other entries)");
                    }
                }
            }
        }

        return null;
    }

    private static (string Entry, string Problem)? CheckEntry(ZipArchiveEntry entry, HashSet<string> names)
    {
        bool model = entry.FullName.EndsWith(".key", StringComparison.Ordinal);
        bool dataView = entry.FullName == "Schema" || entry.FullName.EndsWith(".idv", StringComparison.Ordinal);
        if (!model && !dataView)
        {
            return null;
        }

        byte[] head = new byte[HeaderSize];
        byte[]? whole = null;
        ulong tail;
        long length;
        try
        {
            (head, whole, tail, length) = Read(entry);
        }
        catch (Exception ex) when (ex is InvalidDataException or NotSupportedException or IOException)
        {
            return (entry.FullName, $"its compressed data cannot be inflated ({ex.Message})");
        }

        if (length < HeaderSize + sizeof(ulong))
        {
            return (entry.FullName, $"it holds {length} bytes, fewer than ML.NET's {HeaderSize}-byte header and tail (truncated)");
        }

        if (model)
        {
            return CheckModelStream(entry.FullName, head, whole, tail, length, names) is { } problem ? (entry.FullName, problem)
                : MissingChainEntry(entry.FullName, head, whole, names);
        }

        return CheckDataView(head, tail, length) is { } dataViewProblem ? (entry.FullName, dataViewProblem) : null;
    }

    private static (byte[] Head, byte[]? Whole, ulong Tail, long Length) Read(ZipArchiveEntry entry)
    {
        using var stream = entry.Open();
        if (entry.Length <= WholeEntryLimit)
        {
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            byte[] bytes = copy.ToArray();
            byte[] head = new byte[HeaderSize];
            bytes.AsSpan(0, Math.Min(HeaderSize, bytes.Length)).CopyTo(head);
            ulong tail = bytes.Length >= 8 ? BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(bytes.Length - 8)) : 0;
            return (head, bytes, tail, bytes.Length);
        }

        // A large entry (a projection's weights): stream it, keeping the header and the last eight bytes.
        byte[] first = new byte[HeaderSize];
        byte[] buffer = new byte[1 << 16];
        byte[] last = new byte[8];
        long total = 0;
        int read;
        while ((read = stream.Read(buffer)) > 0)
        {
            if (total < HeaderSize)
            {
                buffer.AsSpan(0, (int)Math.Min(read, HeaderSize - total)).CopyTo(first.AsSpan((int)total));
            }

            if (read >= 8)
            {
                buffer.AsSpan(read - 8, 8).CopyTo(last);
            }
            else
            {
                last.AsSpan(read).CopyTo(last);
                buffer.AsSpan(0, read).CopyTo(last.AsSpan(8 - read));
            }

            total += read;
        }

        return (first, null, BinaryPrimitives.ReadUInt64LittleEndian(last), total);
    }

    private static string? CheckModelStream(string name, byte[] head, byte[]? whole, ulong tail, long length, HashSet<string> names)
    {
        var h = head.AsSpan();
        if (BinaryPrimitives.ReadUInt64LittleEndian(h) != ModelSignature)
        {
            return "it does not start with ML.NET's model signature ('ML MODEL')";
        }

        long fpModel = Long(h, 0x10), cbModel = Long(h, 0x18), fpTable = Long(h, 0x20), cbTable = Long(h, 0x28);
        long fpChars = Long(h, 0x30), cbChars = Long(h, 0x38), fpTail = Long(h, 0x80), fpLim = Long(h, 0x88);
        long fpAssembly = Long(h, 0x90);
        long cbAssembly = BinaryPrimitives.ReadUInt32LittleEndian(h[0x98..]);
        if (fpLim != length || fpTail != length - 8)
        {
            return $"its header says it ends at byte {fpLim}, but it holds {length} bytes (truncated or padded)";
        }

        if (tail != ModelTailSignature)
        {
            return "it does not end with ML.NET's model tail signature";
        }

        bool inside(long start, long size) => start >= HeaderSize && size >= 0 && start + size <= fpTail;
        if (fpModel != HeaderSize || !inside(fpModel, cbModel)
            || (cbTable != 0 && (!inside(fpTable, cbTable) || !inside(fpChars, cbChars) || cbTable % sizeof(long) != 0))
            || (cbAssembly != 0 && !inside(fpAssembly, cbAssembly)))
        {
            return "its header's block offsets point outside the entry";
        }

        string loader = Encoding.ASCII.GetString(h.Slice(0x50, 24)).TrimEnd('\0');
        if (loader.Length == 0 || loader.Any(c => c < 0x20 || c > 0x7E))
        {
            return "its header names no readable ML.NET loader";
        }

        if (whole is not null && cbAssembly != 0)
        {
            string assembly = Encoding.Unicode.GetString(whole, (int)fpAssembly, (int)cbAssembly);
            if (!CanLoad(assembly))
            {
                return $"it names the assembly '{assembly}', which this process cannot load";
            }
        }

        return null;
    }

    /// <summary>An entry a model stream needs that is missing: a MapValue table, or a transform a chain lists (a chain's block is its count and one scope per transform).</summary>
    private static (string Entry, string Problem)? MissingChainEntry(string name, byte[] head, byte[]? whole, HashSet<string> names)
    {
        string loader = Encoding.ASCII.GetString(head, 0x50, 24).TrimEnd('\0');
        long cbModel = Long(head, 0x18);
        string directory = name[..^"Model.key".Length];
        if (loader == "ValueMappingTransformer" && !names.Contains(directory + "DefaultMap.idv"))
        {
            return (directory + "DefaultMap.idv", $"the entry is missing (the MapValue transform in {name} reads its table from it)");
        }

        if (loader != "TransformerChain" || whole is null || cbModel < sizeof(int))
        {
            return null;
        }

        int count = BinaryPrimitives.ReadInt32LittleEndian(whole.AsSpan(HeaderSize));
        if (count < 0 || count > (cbModel - sizeof(int)) / sizeof(int))
        {
            return (name, $"its transform count {count} does not fit its {cbModel}-byte model block");
        }

        for (int i = 0; i < count; i++)
        {
            string child = $"{directory}Transform_{i:000}/Model.key";
            if (!names.Contains(child))
            {
                return (child, $"the entry is missing ({name} lists {count} transforms)");
            }
        }

        return null;
    }

    private static string? CheckDataView(byte[] head, ulong tail, long length)
    {
        var h = head.AsSpan();
        if (BinaryPrimitives.ReadUInt64LittleEndian(h) != DataViewSignature)
        {
            return "it does not start with ML.NET's binary data view signature";
        }

        long table = Long(h, 24), tailOffset = Long(h, 32);
        if (tailOffset != length - 8 || table < HeaderSize || table > tailOffset)
        {
            return $"its header says its tail is at byte {tailOffset}, but it holds {length} bytes (truncated or padded)";
        }

        return tail == DataViewTailSignature ? null : "it does not end with ML.NET's binary data view tail signature";
    }

    private static bool CanLoad(string assemblyName)
    {
        try
        {
            Assembly.Load(new AssemblyName(assemblyName));
            return true;
        }
        catch (Exception ex) when (ex is IOException or BadImageFormatException or ArgumentException)
        {
            return false;
        }
    }

    private static long Long(ReadOnlySpan<byte> header, int offset) => BinaryPrimitives.ReadInt64LittleEndian(header[offset..]);
}
