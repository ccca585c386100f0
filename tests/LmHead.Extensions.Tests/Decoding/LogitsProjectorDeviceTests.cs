using LmHead.Extensions.Decoding;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Decoding;

[TestClass]
public sealed class LogitsProjectorDeviceTests
{
    [TestMethod]
    public void ProjectsAHiddenStateOnTheSameDeviceAsTheWeight()
    {
        using var weight = tensor(new float[] { 1, 0, 0, 1, 1, 1 }, [3, 2]);
        using var bias = tensor(new float[] { 0, 0, 10 });
        using var projector = new LogitsProjector(weight, bias);
        using var hidden = tensor(new float[] { 2, 3 });

        using var logits = projector.Project(hidden);

        CollectionAssert.AreEqual(new float[] { 2, 3, 15 }, logits.data<float>().ToArray());
    }
}
