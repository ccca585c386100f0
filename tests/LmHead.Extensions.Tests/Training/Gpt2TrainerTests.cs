using LmHead.Extensions.Models;
using LmHead.Extensions.Training;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Training;

[TestClass]
public sealed class Gpt2TrainerTests
{
    private static readonly Gpt2Config TinyConfig = new() { HiddenSize = 32, LayerCount = 2, HeadCount = 4, MaxPositions = 32, VocabularySize = 300, BosTokenId = 299, EosTokenId = 299 };

    /// <summary>A corpus with a learnable pattern over a few token ids: the next id is a function of the current one.</summary>
    private static List<int> PatternCorpus(int length)
    {
        int[] cycle = [5, 17, 42, 8, 99, 17, 3, 42, 250, 8];
        return [.. Enumerable.Range(0, length).Select(i => cycle[i % cycle.Length])];
    }

    private static double FullVocabularyLoss(Gpt2Model model, IReadOnlyList<int> tokens)
    {
        using var scope = NewDisposeScope();
        var ids = tensor(tokens.Take(33).Select(t => (long)t).ToArray());
        var logits = model.ComputeLogits(ids.narrow(0, 0, 32));
        return nn.functional.cross_entropy(logits, ids.narrow(0, 1, 32)).item<float>();
    }

    [TestMethod]
    public void LearnsAPatternAndWritesALoadableCheckpointWhoseLossMatchesTheReport()
    {
        var corpus = PatternCorpus(3000);
        string folder = Path.Combine(Path.GetTempPath(), "lmhead-train-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var model = new Gpt2Model(TinyConfig);
            Gpt2Trainer.InitializeWeights(model, seed: 1);
            double before = FullVocabularyLoss(model, corpus);
            var reports = new List<TrainingProgress>();
            var options = new Gpt2TrainingOptions { Steps = 60, BatchSize = 8, SequenceLength = 32, WarmupSteps = 5, EvaluateEvery = 30, ValidationBatches = 2, LearningRate = 1e-2 };
            var result = new Gpt2Trainer(model, options).Train(corpus, folder, new Collect(reports), ScalarType.Float32);

            Assert.AreEqual(60, result.Steps);
            Assert.IsFalse(result.Cancelled);
            Assert.HasCount(60, reports);
            Assert.IsLessThan(before / 4, result.ValidationLoss, $"validation loss {result.ValidationLoss} vs untrained {before}");
            Assert.IsTrue(File.Exists(Path.Combine(folder, "training.json")));

            using var loaded = Gpt2Pretrained.Load(folder);
            double reloaded = FullVocabularyLoss(loaded.Model, corpus.Skip(2700).ToList());
            Assert.AreEqual(result.ValidationLoss, reloaded, 0.05, "the pooled loss equals the saved model's full-vocabulary loss");
        }
        finally
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    [TestMethod]
    public void StopsAtTheNextStepWhenCancelledAndStillSaves()
    {
        var corpus = PatternCorpus(2000);
        string folder = Path.Combine(Path.GetTempPath(), "lmhead-train-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var model = new Gpt2Model(TinyConfig);
            Gpt2Trainer.InitializeWeights(model, seed: 2);
            using var cancel = new CancellationTokenSource();
            var progress = new Callback(p =>
            {
                if (p.Step == 3)
                {
                    cancel.Cancel();
                }
            });
            var options = new Gpt2TrainingOptions { Steps = 1000, BatchSize = 4, SequenceLength = 16, EvaluateEvery = 500, ValidationBatches = 1 };
            var result = new Gpt2Trainer(model, options).Train(corpus, folder, progress, ScalarType.Float16, cancel.Token);
            Assert.AreEqual(3, result.Steps);
            Assert.IsTrue(result.Cancelled);
            using var loaded = Gpt2Pretrained.Load(folder);
            Assert.AreEqual(TinyConfig.HiddenSize, loaded.Config.HiddenSize);
        }
        finally
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    [TestMethod]
    public void RejectsOptionsOutOfRangeNamingThem()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new Gpt2TrainingOptions { Steps = 0 }.Validate());
        Assert.AreEqual("Steps", ex.ParamName);
        using var model = new Gpt2Model(TinyConfig);
        var tooLong = Assert.Throws<ArgumentOutOfRangeException>(() => new Gpt2Trainer(model, new Gpt2TrainingOptions { SequenceLength = 64 }));
        StringAssert.Contains(tooLong.Message, "n_positions 32");
    }

    private sealed class Collect(List<TrainingProgress> into) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => into.Add(value);
    }

    private sealed class Callback(Action<TrainingProgress> action) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => action(value);
    }
}
