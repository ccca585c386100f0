using System.Buffers.Binary;
using System.Text.Json;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// Reads and writes the safetensors format (8-byte little-endian header length, a JSON header
/// <c>{name: {dtype, shape, data_offsets}}</c>, raw little-endian bytes). Every header field is checked against the
/// file before a byte is read, so a truncated or hostile file raises <see cref="ModelFormatException"/>, never a crash
/// or a huge allocation. The checks are those of the reference implementation (the <c>safetensors</c> Rust crate): the
/// header is UTF-8 JSON starting with <c>{</c> (trailing spaces allowed), and the tensors' byte ranges, sorted, cover
/// the data section exactly, from its first byte to the end of the file, with no hole and no overlap. So a header length
/// that is off by any number of bytes, or bytes appended to the file, are errors instead of tensors read from the wrong
/// place.
/// </summary>
internal static class SafeTensorsFile
{
    private const long MaxHeaderBytes = 100L * 1024 * 1024;

    /// <summary>The entries of a file's header, validated, in file order.</summary>
    internal sealed record Entry(string Name, ScalarType DType, long[] Shape, long Begin, long End);

    internal static IReadOnlyList<Entry> ReadHeader(string path, out long dataStart)
    {
        using var stream = ModelFile.OpenRead(path);
        return ReadHeader(stream, path, out dataStart);
    }

    /// <summary>Opens a file and validates its header; the caller reads tensors with <see cref="ReadTensor"/> and disposes the stream.</summary>
    internal static FileStream Open(string path, out IReadOnlyList<Entry> entries, out long dataStart)
    {
        var stream = ModelFile.OpenRead(path);
        try
        {
            entries = ReadHeader(stream, path, out dataStart);
            return stream;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Reads every tensor into CPU tensors of the stored dtype; the caller owns them.</summary>
    internal static Dictionary<string, Tensor> ReadAll(string path)
    {
        using var stream = Open(path, out var entries, out long dataStart);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var entry in entries)
            {
                result.Add(entry.Name, ReadTensor(stream, path, dataStart, entry));
            }
        }
        catch
        {
            foreach (var t in result.Values)
            {
                t.Dispose();
            }

            throw;
        }

        return result;
    }

    /// <summary>
    /// Reads one validated entry into a new CPU tensor of its stored dtype, straight into the tensor's memory (no
    /// managed copy); the caller owns it.
    /// </summary>
    internal static Tensor ReadTensor(FileStream stream, string path, long dataStart, Entry entry)
    {
        var tensor = empty(entry.Shape, entry.DType);
        try
        {
            long total = entry.End - entry.Begin;
            if (total == 0)
            {
                return tensor;
            }

            // Tensor.bytes is a view of the tensor's own memory, so the file is read straight into it.
            stream.Position = dataStart + entry.Begin;
            stream.ReadExactly(tensor.bytes);
            return tensor;
        }
        catch (IOException ex)
        {
            tensor.Dispose();
            throw new ModelFormatException(path, entry.Name, $"the file could not be read completely (changed while loading?): {ex.Message}", ex);
        }
    }

    private static List<Entry> ReadHeader(FileStream stream, string path, out long dataStart)
    {
        try
        {
            return ReadHeaderUnchecked(stream, path, out dataStart);
        }
        catch (IOException ex)
        {
            throw ModelFile.CannotRead(path, ex);
        }
    }

    private static List<Entry> ReadHeaderUnchecked(FileStream stream, string path, out long dataStart)
    {
        long fileLength = stream.Length;
        if (fileLength < 8)
        {
            throw new ModelFormatException(path, null, $"the file is {fileLength} bytes long, too short for a safetensors header (truncated?).");
        }

        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > (ulong)(fileLength - 8) || headerLength > MaxHeaderBytes)
        {
            throw new ModelFormatException(path, null,
                $"the header claims {headerLength} bytes but the file has only {fileLength - 8} bytes after the length field (truncated or not a safetensors file).");
        }

        byte[] header = new byte[headerLength];
        stream.ReadExactly(header);
        dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;

        if (!System.Text.Unicode.Utf8.IsValid(header))
        {
            throw new ModelFormatException(path, null, "the header is not valid UTF-8 (a corrupt file, or a tensor name in another encoding).");
        }

        if (header.Length == 0 || header[0] != (byte)'{')
        {
            throw new ModelFormatException(path, null,
                $"the header must be a JSON object starting with '{{' right after the 8-byte length, but starts with {(header.Length == 0 ? "nothing (length 0)" : $"byte 0x{header[0]:X2}")} (a wrong header length, or not a safetensors file).");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header);
        }
        catch (JsonException ex)
        {
            throw new ModelFormatException(path, null, $"the header is not valid JSON: {ex.Message}", ex);
        }

        using (document)
        {
            try
            {
                return ParseEntries(path, document, dataLength, (long)headerLength);
            }
            catch (InvalidOperationException ex)
            {
                // JsonElement throws this for strings it cannot transcode (an escaped lone surrogate, say).
                throw new ModelFormatException(path, null, $"the header holds a string that cannot be read: {ex.Message}", ex);
            }
        }
    }

    private static List<Entry> ParseEntries(string path, JsonDocument document, long dataLength, long headerLength)
    {
        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            throw new ModelFormatException(path, null, "the header must be a JSON object.");
        }

        var entries = new List<Entry>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in document.RootElement.EnumerateObject())
        {
            if (property.Name == "__metadata__")
            {
                RequireStringMap(path, property);
                continue;
            }

            if (!names.Add(property.Name))
            {
                throw new ModelFormatException(path, property.Name, "the header lists this tensor twice.");
            }

            entries.Add(ParseEntry(path, property, dataLength));
        }

        var ordered = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        long covered = 0;
        for (int i = 0; i < ordered.Count; i++)
        {
            var entry = ordered[i];
            if (entry.Begin < covered)
            {
                throw new ModelFormatException(path, entry.Name,
                    $"data_offsets [{entry.Begin}, {entry.End}] overlap those of '{ordered[i - 1].Name}', which end at {covered}.");
            }

            if (entry.Begin > covered)
            {
                string previous = i == 0 ? "the data section starts at 0" : $"'{ordered[i - 1].Name}' ends at {covered}";
                throw new ModelFormatException(path, entry.Name,
                    $"data_offsets [{entry.Begin}, {entry.End}] leave a hole: {previous}, so {entry.Begin - covered} bytes belong to no tensor (the tensors must cover the data contiguously).");
            }

            covered = entry.End;
        }

        if (covered != dataLength)
        {
            throw new ModelFormatException(path, null,
                $"the tensors cover {covered} bytes but the data section (after the 8-byte length and the {headerLength}-byte header) is {dataLength} bytes: "
                + $"{dataLength - covered} bytes belong to no tensor (a wrong header length, or bytes appended to the file).");
        }

        return ordered;
    }

    private static void RequireStringMap(string path, JsonProperty property)
    {
        if (property.Value.ValueKind != JsonValueKind.Object
            || property.Value.EnumerateObject().Any(p => p.Value.ValueKind != JsonValueKind.String))
        {
            throw new ModelFormatException(path, property.Name, "the metadata must be a JSON object of strings.");
        }
    }

    private static Entry ParseEntry(string path, JsonProperty property, long dataLength)
    {
        string name = property.Name;
        var value = property.Value;
        if (value.ValueKind != JsonValueKind.Object
            || !value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String
            || !value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array
            || !value.TryGetProperty("data_offsets", out var offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array
            || offsetsElement.GetArrayLength() != 2)
        {
            throw new ModelFormatException(path, name, "the header entry must be an object with \"dtype\" (string), \"shape\" (array) and \"data_offsets\" ([begin, end]).");
        }

        var (dtype, elementSize) = dtypeElement.GetString() switch
        {
            "F32" => (ScalarType.Float32, 4),
            "F16" => (ScalarType.Float16, 2),
            "BF16" => (ScalarType.BFloat16, 2),
            "F64" => (ScalarType.Float64, 8),
            var other => throw new ModelFormatException(path, name, $"dtype \"{other}\" is not supported; expected F32, F16, BF16 or F64."),
        };

        var shape = new long[shapeElement.GetArrayLength()];
        long count = 1;
        int i = 0;
        foreach (var dimension in shapeElement.EnumerateArray())
        {
            if (dimension.ValueKind != JsonValueKind.Number || !dimension.TryGetInt64(out long size) || size < 0)
            {
                throw new ModelFormatException(path, name, "every shape entry must be a non-negative integer.");
            }

            shape[i++] = size;
            count = size == 0 ? 0 : (count > long.MaxValue / size ? throw new ModelFormatException(path, name, "the shape is too large.") : count * size);
        }

        long[] offsets = new long[2];
        i = 0;
        foreach (var offset in offsetsElement.EnumerateArray())
        {
            if (offset.ValueKind != JsonValueKind.Number || !offset.TryGetInt64(out offsets[i]) || offsets[i] < 0)
            {
                throw new ModelFormatException(path, name, "data_offsets must be two non-negative integers.");
            }

            i++;
        }

        if (offsets[1] < offsets[0] || offsets[1] > dataLength)
        {
            throw new ModelFormatException(path, name,
                $"data_offsets [{offsets[0]}, {offsets[1]}] lie outside the {dataLength} data bytes of the file (truncated?).");
        }

        if (count > long.MaxValue / elementSize || offsets[1] - offsets[0] != count * elementSize)
        {
            throw new ModelFormatException(path, name,
                $"holds {offsets[1] - offsets[0]} bytes but shape [{string.Join(", ", shape)}] of {dtypeElement.GetString()} needs {count * elementSize}.");
        }

        return new Entry(name, dtype, shape, offsets[0], offsets[1]);
    }

    /// <summary>
    /// Writes tensors (any device, F32/F16/BF16/F64) in the given order, into a new file renamed over
    /// <paramref name="path"/> at the end: a model loaded from the old file maps it (<see cref="SafeTensorsMapping"/>), and
    /// rewriting that file in place would change or cut off the loaded weights.
    /// </summary>
    internal static void Write(string path, IReadOnlyList<KeyValuePair<string, Tensor>> tensors)
    {
        string temporary = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            WriteNew(temporary, tensors);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary); // after a failure; nothing is left there after the move
        }
    }

    private static void WriteNew(string path, IReadOnlyList<KeyValuePair<string, Tensor>> tensors)
    {
        var header = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["__metadata__"] = new Dictionary<string, string> { ["format"] = "pt" },
        };
        long offset = 0;
        foreach (var (name, tensor) in tensors)
        {
            long length = tensor.numel() * tensor.element_size();
            header[name] = new Dictionary<string, object>
            {
                ["dtype"] = DTypeName(tensor.dtype, name),
                ["shape"] = tensor.shape,
                ["data_offsets"] = new[] { offset, offset + length },
            };
            offset += length;
        }

        byte[] headerBytes = JsonSerializer.SerializeToUtf8Bytes(header);
        int padding = (8 - headerBytes.Length % 8) % 8;
        byte[] padded = new byte[headerBytes.Length + padding];
        headerBytes.CopyTo(padded, 0);
        padded.AsSpan(headerBytes.Length).Fill((byte)' ');

        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        Span<byte> lengthBytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(lengthBytes, (ulong)padded.Length);
        stream.Write(lengthBytes);
        stream.Write(padded);
        foreach (var (_, tensor) in tensors)
        {
            using var scope = NewDisposeScope();
            var cpu = tensor.detach().cpu().contiguous();
            stream.Write(cpu.bytes);
        }
    }

    private static string DTypeName(ScalarType dtype, string name) => dtype switch
    {
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Float64 => "F64",
        _ => throw new ArgumentException($"tensor '{name}' has dtype {dtype}; only floating-point tensors can be saved.", nameof(name)),
    };

}
