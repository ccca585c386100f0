using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.Training;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Training;

/// <summary>Checks the model shipped in <c>models/tiny-shakespeare</c>.</summary>
[TestClass]
public sealed class DefaultModelTests
{
    // From the held-out end of the training corpus (The Taming of the Shrew, IV.iv); the model never trained on it.
    private const string HeldOut = """
        BAPTISTA:
        Not in my house, Lucentio; for, you know,
        Pitchers have ears, and I have many servants:
        Besides, old Gremio is hearkening still;
        And happily we might be interrupted.

        TRANIO:
        Then at my lodging, an it like you:
        There doth my father lie; and there, this night,
        We'll pass the business privately and well.
        Send for your daughter by your servant here:
        My boy shall fetch the scrivener presently.
        """;

    private static double Perplexity(Gpt2Model model, IReadOnlyList<int> tokens)
    {
        using var scope = NewDisposeScope();
        var ids = tensor(tokens.Select(t => (long)t).ToArray());
        long n = ids.shape[0] - 1;
        var logits = model.ComputeLogits(ids.narrow(0, 0, n)).to_type(ScalarType.Float32);
        return Math.Exp(nn.functional.cross_entropy(logits, ids.narrow(0, 1, n)).item<float>());
    }

    [TestMethod]
    public void TheShippedModelIsSmallAndPredictsHeldOutShakespeareFarBetterThanAnUntrainedOne()
    {
        string folder = DefaultModel.FindFolder();
        long bytes = new FileInfo(Path.Combine(folder, Gpt2Pretrained.WeightsFileName)).Length;
        Assert.IsLessThan(25L * 1024 * 1024, bytes, "the shipped weights must stay under 25 MB");

        using var shipped = Gpt2Pretrained.Load(folder);
        var tokens = shipped.Tokenizer.EncodeToIds(HeldOut.ReplaceLineEndings("\n"));
        using var untrained = new Gpt2Model(shipped.Config);
        Gpt2Trainer.InitializeWeights(untrained, seed: 1);

        double trained = Perplexity(shipped.Model, tokens);
        double baseline = Perplexity(untrained, tokens);
        Assert.IsLessThan(baseline / 50, trained, $"perplexity {trained:F1} (shipped) vs {baseline:F1} (untrained)");
        Assert.IsLessThan(300, trained, $"perplexity {trained:F1} on held-out text");
    }

    [TestMethod]
    public async Task TheShippedModelWritesSpeakerLines()
    {
        using var shipped = Gpt2Pretrained.Load(DefaultModel.FindFolder());
        var generator = new TextGenerator(shipped);
        var result = await generator.GenerateAsync("ROMEO:\n", new GenerationOptions { MaxNewTokens = 150, Decoding = new() { Seed = 7, Temperature = 0.8f, TopK = 40 } });
        // Shakespeare-like: several lines, and at least one new speaker line "NAME:" at the start of a line.
        Assert.IsGreaterThan(3, result.Text.Split('\n').Length, result.Text);
        Assert.IsTrue(System.Text.RegularExpressions.Regex.IsMatch(result.Text, @"(^|\n)[A-Z][A-Za-z ]+:\n"), result.Text);
    }
}
