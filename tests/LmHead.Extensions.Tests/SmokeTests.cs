using static TorchSharp.torch;
namespace LmHead.Extensions.Tests;
[TestClass]
public sealed class SmokeTests
{
    [TestMethod]
    public void TorchLoads()
    {
        using var t = ones(3);
        Assert.AreEqual(3f, t.sum().item<float>());
    }
}
