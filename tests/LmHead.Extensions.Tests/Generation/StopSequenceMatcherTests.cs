using LmHead.Extensions.Generation;

namespace LmHead.Extensions.Tests.Generation;

[TestClass]
public sealed class StopSequenceMatcherTests
{
    private static (string Released, bool Stopped) Run(string[] stops, params string[] pieces)
    {
        var matcher = new StopSequenceMatcher(stops);
        string released = string.Concat(pieces.Select(matcher.Push));
        return (released + matcher.Flush(), matcher.Stopped);
    }

    [TestMethod]
    public void StopsBeforeASequenceSplitOverSeveralPiecesWithoutLeakingAnyOfIt()
    {
        var matcher = new StopSequenceMatcher(["\n\nUser:"]);
        var released = new List<string>();

        foreach (string piece in new[] { "Hi there", ".\n", "\nUs", "er", ": more" })
        {
            released.Add(matcher.Push(piece));
        }

        Assert.IsTrue(matcher.Stopped);
        Assert.AreEqual("Hi there.", string.Concat(released));
        Assert.IsFalse(released.Any(r => r.Contains('\n', StringComparison.Ordinal)));
    }

    [TestMethod]
    public void HoldsBackOnlyTheTailThatCouldStillStartAStopSequence()
    {
        var matcher = new StopSequenceMatcher(["abc"]);

        string first = matcher.Push("xxab");
        string heldAfterFirst = matcher.Held;
        string second = matcher.Push("x");

        Assert.AreEqual("xx", first);
        Assert.AreEqual("ab", heldAfterFirst);
        Assert.AreEqual("abx", second);
        Assert.AreEqual("", matcher.Held);
    }

    [TestMethod]
    public void ReleasesHeldTextAtTheEndWhenNoStopSequenceCompleted()
    {
        var (released, stopped) = Run(["STOP"], "go S", "T", "O");

        Assert.IsFalse(stopped);
        Assert.AreEqual("go STO", released);
    }

    [TestMethod]
    public void StopsAtTheEarliestOfSeveralSequences()
    {
        var (released, stopped) = Run(["world", "lo w"], "hello world");

        Assert.IsTrue(stopped);
        Assert.AreEqual("hel", released);
    }

    [TestMethod]
    public void WithoutStopSequencesEverythingIsReleasedAtOnce()
    {
        var matcher = new StopSequenceMatcher([]);

        Assert.AreEqual("abc", matcher.Push("abc"));
        Assert.AreEqual("", matcher.Held);
    }
}
