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
    public void RejectsAHostileHeaderWithAModelFormatException(string header, string expectedText)
    {
        string path = WriteRaw(header, dataBytes: 8);

        var ex = Assert.ThrowsExactly<ModelFormatException>(() => SafeTensorsFile.ReadAll(path));

        Assert.Contains(expectedText, ex.Message);
        Assert.AreEqual(path, ex.FilePath);
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
