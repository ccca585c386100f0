using System.Text;
using LmHead.Extensions.Models;

namespace LmHead.Extensions.Tests.Models;

[TestClass]
public sealed class SafeTensorsFileTests
{
    private static string WriteRaw(string header, int dataBytes)
    {
        string path = Path.Combine(TinyGpt2.NewFolder(), "raw.safetensors");
        byte[] headerBytes = Encoding.UTF8.GetBytes(header);
        using var stream = File.Create(path);
        stream.Write(BitConverter.GetBytes((long)headerBytes.Length));
        stream.Write(headerBytes);
        stream.Write(new byte[dataBytes]);
        return path;
    }

    [TestMethod]
    [DataRow("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "twice")]
    [DataRow("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "overlap")]
    [DataRow("{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", "not supported")]
    [DataRow("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "non-negative")]
    [DataRow("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", "outside")]
    [DataRow("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", "data_offsets")]
    [DataRow("[1, 2]", "JSON object")]
    [DataRow(" {\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "starting with '{'")]
    [DataRow("{\"__metadata__\":{\"format\":1},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "metadata")]
    [DataRow("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "hole")]
    [DataRow("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[6,6]}}", "hole")]
    [DataRow("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "4 bytes belong to no tensor")]
    [DataRow("{}", "8 bytes belong to no tensor")]
    public void RejectsAHostileHeaderWithAModelFormatException(string header, string expectedText)
    {
        string path = WriteRaw(header, dataBytes: 8);

        var ex = Assert.ThrowsExactly<ModelFormatException>(() => SafeTensorsFile.ReadAll(path));

        Assert.Contains(expectedText, ex.Message);
        Assert.AreEqual(path, ex.FilePath);
    }

    /// <summary>
    /// A header length off by k either way must never load: the reference writer pads the header with spaces (so a
    /// shorter length still parses) and here the data starts with spaces too (so a longer one still parses); only the
    /// exact-coverage rule catches those, and every tensor would otherwise be read k bytes off.
    /// </summary>
    [TestMethod]
    public void RejectsEveryHeaderLengthOffByUpTo64BytesEitherWay()
    {
        byte[] header = Encoding.UTF8.GetBytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}" + new string(' ', 70));
        byte[] data = Enumerable.Repeat((byte)' ', 16).ToArray(); // four floats of 0x20202020, valid but wrong if shifted
        string path = WriteBytes(header.Length, header, data);
        SafeTensorsFile.ReadAll(path)["a"].Dispose(); // the exact length loads

        var loaded = new List<int>();
        for (int k = -64; k <= 64; k++)
        {
            if (k == 0)
            {
                continue;
            }

            path = WriteBytes(header.Length + k, header, data);
            try
            {
                foreach (var t in SafeTensorsFile.ReadAll(path).Values)
                {
                    t.Dispose();
                }

                loaded.Add(k);
            }
            catch (ModelFormatException ex)
            {
                Assert.AreEqual(path, ex.FilePath);
            }
        }

        Assert.IsEmpty(loaded, $"header lengths off by {string.Join(", ", loaded)} loaded");
    }

    [TestMethod]
    [DataRow(new byte[] { 0x20 })]
    [DataRow(new byte[] { 0, 0, 0, 0 })]
    [DataRow(new byte[] { 0x7B, 0x7D })]
    public void RejectsBytesAppendedAfterTheLastTensor(byte[] trailing)
    {
        byte[] header = Encoding.UTF8.GetBytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}");
        string path = WriteBytes(header.Length, header, [.. new byte[8], .. trailing]);

        var ex = Assert.ThrowsExactly<ModelFormatException>(() => SafeTensorsFile.ReadAll(path));

        Assert.Contains($"{trailing.Length} bytes belong to no tensor", ex.Message);
    }

    private static string WriteBytes(long declaredHeaderLength, byte[] header, byte[] data)
    {
        string path = Path.Combine(TinyGpt2.NewFolder(), "raw.safetensors");
        using var stream = File.Create(path);
        stream.Write(BitConverter.GetBytes(declaredHeaderLength));
        stream.Write(header);
        stream.Write(data);
        return path;
    }

    [TestMethod]
    public void ReadsWhatItWroteBitForBit()
    {
        string path = Path.Combine(TinyGpt2.NewFolder(), "round.safetensors");
        using var half = TorchSharp.torch.randn(3, 5).to_type(TorchSharp.torch.ScalarType.Float16);
        using var single = TorchSharp.torch.randn(7);

        SafeTensorsFile.Write(path, [new("half", half), new("single", single)]);
        var read = SafeTensorsFile.ReadAll(path);

        Assert.AreEqual(TorchSharp.torch.ScalarType.Float16, read["half"].dtype);
        Assert.IsTrue(read["half"].allclose(half, rtol: 0, atol: 0));
        Assert.IsTrue(read["single"].allclose(single, rtol: 0, atol: 0));
        foreach (var t in read.Values)
        {
            t.Dispose();
        }
    }
}
