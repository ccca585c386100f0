using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LmHead.Extensions.Tests.Models;

/// <summary>
/// An independent, minimal F32 safetensors reader and writer for the tests, so the reference implementation and the
/// malformed-file cases do not go through the code under test.
/// </summary>
internal static class SafeTensorsTestFile
{
    internal sealed record TestTensor(long[] Shape, float[] Data);

    internal static Dictionary<string, TestTensor> ReadF32(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        long headerLength = BitConverter.ToInt64(bytes, 0);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
        var result = new Dictionary<string, TestTensor>();
        foreach (var entry in header.RootElement.EnumerateObject())
        {
            if (entry.Name == "__metadata__")
            {
                continue;
            }

            Assert.AreEqual("F32", entry.Value.GetProperty("dtype").GetString(), entry.Name);
            long[] shape = [.. entry.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64())];
            long[] offsets = [.. entry.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64())];
            var data = new float[(offsets[1] - offsets[0]) / 4];
            Buffer.BlockCopy(bytes, (int)(8 + headerLength + offsets[0]), data, 0, data.Length * 4);
            result[entry.Name] = new TestTensor(shape, data);
        }

        return result;
    }

    internal static void WriteF32(string path, IReadOnlyDictionary<string, TestTensor> tensors)
    {
        var header = new JsonObject();
        long offset = 0;
        foreach (var (name, tensor) in tensors)
        {
            long length = tensor.Data.Length * 4L;
            header[name] = new JsonObject
            {
                ["dtype"] = "F32",
                ["shape"] = new JsonArray([.. tensor.Shape.Select(s => (JsonNode)s)]),
                ["data_offsets"] = new JsonArray(offset, offset + length),
            };
            offset += length;
        }

        byte[] headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        using var stream = File.Create(path);
        stream.Write(BitConverter.GetBytes((long)headerBytes.Length));
        stream.Write(headerBytes);
        foreach (var tensor in tensors.Values)
        {
            var raw = new byte[tensor.Data.Length * 4];
            Buffer.BlockCopy(tensor.Data, 0, raw, 0, raw.Length);
            stream.Write(raw);
        }
    }

    internal static string ReadHeaderJson(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        long headerLength = BitConverter.ToInt64(bytes, 0);
        return Encoding.UTF8.GetString(bytes, 8, (int)headerLength);
    }
}
