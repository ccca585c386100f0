using System.Text;

namespace LmHead.Extensions.Benchmarks.LlamaCpp;

/// <summary>The ggml tensor types this writer stores (the numbers are ggml's <c>ggml_type</c>).</summary>
internal enum GgmlType : uint
{
    /// <summary>32-bit float.</summary>
    F32 = 0,

    /// <summary>IEEE half precision.</summary>
    F16 = 1,

    /// <summary>bfloat16 (the upper half of a float32).</summary>
    BF16 = 30,
}

/// <summary>
/// Writes a GGUF version 3 file, the container llama.cpp loads: the magic <c>GGUF</c>, the version, the tensor and
/// metadata counts, the metadata key/value pairs, one info record per tensor (name, dimensions innermost first, ggml type,
/// offset into the data section), padding to <see cref="Alignment"/> bytes, then each tensor's bytes, each padded to the
/// same alignment. Everything is little-endian. Tensor bytes are produced one tensor at a time while the file is written,
/// so a model never sits in memory twice.
/// </summary>
/// <remarks>Follows ggml's <c>docs/gguf.md</c> and <c>gguf-py</c>'s <c>GGUFWriter</c>; the value type codes are <c>GGUFValueType</c>'s.</remarks>
internal sealed class GgufWriter
{
    /// <summary>The data alignment; 32 is GGUF's default, so no <c>general.alignment</c> key is written.</summary>
    public const int Alignment = 32;

    private const uint Version = 3;
    private const uint TypeUInt32 = 4, TypeInt32 = 5, TypeFloat32 = 6, TypeString = 8, TypeArray = 9;

    private readonly List<(string Key, Action<BinaryWriter> WriteValue)> _metadata = [];
    private readonly List<TensorInfo> _tensors = [];

    /// <summary>Adds a <c>uint32</c> metadata value.</summary>
    public void AddUInt32(string key, uint value) => AddValue(key, w => { w.Write(TypeUInt32); w.Write(value); });

    /// <summary>Adds a <c>float32</c> metadata value.</summary>
    public void AddFloat32(string key, float value) => AddValue(key, w => { w.Write(TypeFloat32); w.Write(value); });

    /// <summary>Adds a UTF-8 string metadata value.</summary>
    public void AddString(string key, string value) => AddValue(key, w => { w.Write(TypeString); WriteString(w, value); });

    /// <summary>Adds an array of UTF-8 strings.</summary>
    public void AddStringArray(string key, IReadOnlyList<string> values) => AddValue(key, w =>
    {
        w.Write(TypeArray);
        w.Write(TypeString);
        w.Write((ulong)values.Count);
        foreach (string value in values)
        {
            WriteString(w, value);
        }
    });

    /// <summary>Adds an array of <c>int32</c>.</summary>
    public void AddInt32Array(string key, IReadOnlyList<int> values) => AddValue(key, w =>
    {
        w.Write(TypeArray);
        w.Write(TypeInt32);
        w.Write((ulong)values.Count);
        foreach (int value in values)
        {
            w.Write(value);
        }
    });

    /// <summary>Adds a tensor.</summary>
    /// <param name="name">The tensor name (llama.cpp's, e.g. <c>blk.0.attn_qkv.weight</c>).</param>
    /// <param name="type">The stored type.</param>
    /// <param name="ggmlShape">The dimensions in ggml order: the innermost (contiguous) first, i.e. a row-major
    /// <c>[rows, columns]</c> matrix is <c>{columns, rows}</c>.</param>
    /// <param name="readData">Produces the tensor's bytes when the file is written; called once.</param>
    /// <exception cref="ArgumentException">The name is empty or repeated, or the shape is empty or has a dimension below 1.</exception>
    public void AddTensor(string name, GgmlType type, long[] ggmlShape, Func<byte[]> readData)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (_tensors.Any(t => t.Name == name))
        {
            throw new ArgumentException($"tensor '{name}' was added twice.", nameof(name));
        }

        if (ggmlShape.Length is 0 or > 4 || ggmlShape.Any(d => d < 1))
        {
            throw new ArgumentException($"tensor '{name}' has shape [{string.Join(", ", ggmlShape)}]; ggml needs 1 to 4 dimensions, each at least 1.", nameof(ggmlShape));
        }

        long bytes = ggmlShape.Aggregate(1L, (product, d) => product * d) * (type == GgmlType.F32 ? 4 : 2);
        _tensors.Add(new TensorInfo(name, type, ggmlShape, bytes, readData));
    }

    /// <summary>Writes the file (replacing an existing one).</summary>
    /// <exception cref="InvalidDataException">A tensor's producer returned a different number of bytes than its shape needs.</exception>
    public void Write(string path)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        writer.Write("GGUF"u8);
        writer.Write(Version);
        writer.Write((ulong)_tensors.Count);
        writer.Write((ulong)_metadata.Count);
        foreach (var (key, writeValue) in _metadata)
        {
            WriteString(writer, key);
            writeValue(writer);
        }

        ulong offset = 0;
        foreach (var tensor in _tensors)
        {
            WriteString(writer, tensor.Name);
            writer.Write((uint)tensor.Shape.Length);
            foreach (long dimension in tensor.Shape)
            {
                writer.Write((ulong)dimension);
            }

            writer.Write((uint)tensor.Type);
            writer.Write(offset);
            offset += (ulong)Padded(tensor.Bytes);
        }

        Pad(writer);
        foreach (var tensor in _tensors)
        {
            byte[] data = tensor.ReadData();
            if (data.LongLength != tensor.Bytes)
            {
                throw new InvalidDataException($"tensor '{tensor.Name}' produced {data.LongLength} bytes; its shape and type need {tensor.Bytes}.");
            }

            writer.Write(data);
            Pad(writer);
        }
    }

    private void AddValue(string key, Action<BinaryWriter> writeValue)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        if (_metadata.Any(m => m.Key == key))
        {
            throw new ArgumentException($"metadata key '{key}' was added twice.", nameof(key));
        }

        _metadata.Add((key, writeValue));
    }

    private static long Padded(long bytes) => (bytes + Alignment - 1) / Alignment * Alignment;

    private static void Pad(BinaryWriter writer)
    {
        long position = writer.BaseStream.Position;
        writer.Write(new byte[Padded(position) - position]);
    }

    private static void WriteString(BinaryWriter writer, string value)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        writer.Write((ulong)bytes.Length);
        writer.Write(bytes);
    }

    private sealed record TensorInfo(string Name, GgmlType Type, long[] Shape, long Bytes, Func<byte[]> ReadData);
}
