using LmHead.Extensions.Tests.MachineLearning;
using Microsoft.ML;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Reliability;

/// <summary>
/// The ML.NET rows of the bad-input matrix of docs/reliability.md (moved here with the ML.NET layer from the core
/// package's <c>BadInputMatrixTests</c>): every catalog entry point and the fitted head pipeline end in the documented
/// exception type with a message containing the documented text. The test writes the table it checked to its output.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class MlNetBadInputMatrixTests
{
    public TestContext TestContext { get; set; } = null!;

    private sealed record Row(string EntryPoint, string Input, Type? Expected, string Fragment, Action Act);

    private static Row R(string entry, string input, Type? expected, string fragment, Action act) => new(entry, input, expected, fragment, act);

    /// <summary>Fits and runs projection → temperature → top-k → softmax → sampling on one row holding <paramref name="poison"/>, or on no rows.</summary>
    private static List<HeadPrediction> RunHeadPipeline(MLContext ml, float? poison)
    {
        var (weight, bias) = LmHeadTestData.Head();
        using (weight)
        using (bias)
        {
            HiddenRow[] rows = poison is { } value ? [new HiddenRow { Hidden = [value, .. new float[LmHeadTestData.HiddenSize - 1]] }] : [];
            var data = ml.Data.LoadFromEnumerable(rows);
            var model = LmHeadTestData.FullPipeline(ml, weight, bias).Fit(data);
            try
            {
                return [.. ml.Data.CreateEnumerable<HeadPrediction>(model.Transform(data), reuseRowObject: false)];
            }
            finally
            {
                (model as IDisposable)?.Dispose();
            }
        }
    }

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public void EveryCatalogEntryPointRejectsBadInputWithTheDocumentedException()
    {
        using var weight = randn(300, 32);
        var ml = new MLContext(seed: 1);
        Row[] rows =
        [
            R("TransformsCatalog.ProjectToLogits", "null weight", typeof(ArgumentNullException), "weight", () => ml.Transforms.ProjectToLogits("Logits", "Hidden", null!)),
            R("TransformsCatalog.ProjectToLogits", "null or empty column name", typeof(ArgumentException), "outputColumnName", () => ml.Transforms.ProjectToLogits("", "Hidden", weight)),
            R("TransformsCatalog.ScaleTemperature", "NaN", typeof(ArgumentOutOfRangeException), "temperature", () => ml.Transforms.ScaleTemperature("Scaled", "Logits", float.NaN)),
            R("TransformsCatalog.KeepTopK", "0", typeof(ArgumentOutOfRangeException), "k", () => ml.Transforms.KeepTopK("Kept", "Logits", 0)),
            R("TransformsCatalog.NormalizeToProbabilities", "null column name", typeof(ArgumentNullException), "inputColumnName", () => ml.Transforms.NormalizeToProbabilities("P", null!)),
            R("ML.NET head pipeline: Fit, Transform, read", "NaN in a hidden vector", typeof(ArgumentException), "NaN", () => RunHeadPipeline(ml, float.NaN)),
            R("ML.NET head pipeline: Fit, Transform, read", "+∞ in a hidden vector", typeof(ArgumentException), "infinity", () => RunHeadPipeline(ml, float.PositiveInfinity)),
            R("ML.NET head pipeline: Fit, Transform, read", "no rows", null, "", () => Assert.IsEmpty(RunHeadPipeline(ml, null))),
            R("TransformsCatalog.SampleNextToken", "null column name", typeof(ArgumentNullException), "inputColumnName", () => ml.Transforms.SampleNextToken("Token", null!)),
        ];

        var failures = new List<string>();
        var table = new System.Text.StringBuilder("| Entry point | Input | Outcome | Message (excerpt) |\n|---|---|---|---|\n");
        foreach (var entry in rows)
        {
            Exception? caught = null;
            try
            {
                entry.Act();
            }
            catch (Exception ex)
            {
                caught = ex;
            }

            string message = caught is null ? "" : caught.Message.ReplaceLineEndings(" ");
            string outcome = caught?.GetType().Name ?? "succeeds";
            table.Append(System.Globalization.CultureInfo.InvariantCulture, $"| `{entry.EntryPoint}` | {entry.Input} | {outcome} | {(message.Length > 150 ? message[..150] + "…" : message).Replace("|", "\\|", StringComparison.Ordinal)} |\n");
            bool typeOk = entry.Expected is null ? caught is null : caught is not null && caught.GetType() == entry.Expected;
            bool messageOk = caught is null || message.Contains(entry.Fragment, StringComparison.Ordinal);
            if (!typeOk || !messageOk)
            {
                failures.Add($"{entry.EntryPoint} with {entry.Input}: expected {entry.Expected?.Name ?? "success"} containing '{entry.Fragment}', got {outcome}: {message}");
            }
        }

        TestContext.WriteLine(table.ToString());
        Assert.IsEmpty(failures, string.Join("\n", failures));
    }
}
