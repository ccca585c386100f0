using LmHead.Extensions.Decoding;
using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.MachineLearning;

public sealed class PenaltyInput
{
    [VectorType(6)]
    public float[] Logits { get; set; } = [];

    public float[] Seen { get; set; } = [];
}

public sealed class PenaltyOutput
{
    public float[] Repeated { get; set; } = [];

    public float[] Penalised { get; set; } = [];
}

public sealed class ScalarHistoryInput
{
    [VectorType(6)]
    public float[] Logits { get; set; } = [];

    public float Count { get; set; }
}

[TestClass]
public sealed class LogitsPenaltyTransformerTests
{
    private static readonly PenaltyInput[] Rows =
    [
        new() { Logits = [2f, -1f, 4f, -3f, 1f, 0.5f], Seen = [0, 1, 1] },
        new() { Logits = [1f, 1f, 1f, 1f, 1f, 1f], Seen = [] },
        new() { Logits = [0.5f, 3f, -2f, 2f, -1f, 1f], Seen = [5, 5, 5, 3] },
    ];

    [TestMethod]
    public void PenaltiesCountEachRowsHistoryLikeTheTensorStages()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Rows);
        var pipeline = ml.Transforms.ApplyRepetitionPenalty("Repeated", "Logits", "Seen", 2f)
            .Append(ml.Transforms.ApplyFrequencyPresencePenalty("Penalised", "Repeated", "Seen", 0.5f, 0.25f));
        var outputs = ml.Data.CreateEnumerable<PenaltyOutput>(pipeline.Fit(data).Transform(data), reuseRowObject: false).ToList();

        for (int r = 0; r < Rows.Length; r++)
        {
            int[] seen = [.. Rows[r].Seen.Select(v => (int)v)];
            CollectionAssert.AreEqual(ReferenceFilters.Repetition(Rows[r].Logits, seen, 2f), outputs[r].Repeated, $"row {r} repetition");
            var expected = (float[])outputs[r].Repeated.Clone();
            foreach (var group in seen.GroupBy(t => t))
            {
                expected[group.Key] -= group.Count() * 0.5f + 0.25f;
            }

            Reference.AssertClose(expected, outputs[r].Penalised, 1e-6f, $"row {r} frequency/presence");
        }
    }

    [TestMethod]
    public void AMissingOrMistypedHistoryColumnIsAClearErrorAtFit()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Rows);
        var missing = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.ApplyRepetitionPenalty("Out", "Logits", "History", 1.2f).Fit(data));
        StringAssert.Contains(missing.Message, "history column 'History' was not found");
        var scalar = ml.Data.LoadFromEnumerable(new[] { new ScalarHistoryInput { Logits = new float[6], Count = 1f } });
        var wrong = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.ApplyRepetitionPenalty("Out", "Logits", "Count", 1.2f).Fit(scalar));
        StringAssert.Contains(wrong.Message, "must be a Vector<Single>");
    }

    [TestMethod]
    public void SavingAPenaltyStageSaysItIsNotSupported()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Rows);
        var model = ml.Transforms.ApplyRepetitionPenalty("Repeated", "Logits", "Seen", 2f).Fit(data);
        using var stream = new MemoryStream();
        var ex = Assert.Throws<NotSupportedException>(() => ml.Model.Save(model, data.Schema, stream));
        StringAssert.Contains(ex.Message, "'Seen'");
    }
}
