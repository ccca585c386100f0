using System.Diagnostics;
using System.Text.Json;
using Microsoft.ML;
using static LmHead.Extensions.Tests.MachineLearning.LmHeadTestData;

namespace LmHead.Extensions.Tests.MachineLearning;

/// <summary>
/// Loads saved models in a child process (LmHead.Extensions.ML.FreshProcess) in which nothing has touched
/// LmHead.Extensions.ML before <c>Model.Load</c>, as in a user's app. ML.NET records the assembly of each
/// <c>CustomMapping</c>'s delegate next to its contract name and registers only that assembly with the loading context's
/// component catalog (one catalog per <c>MLContext</c>). Files saved since the package split name LmHead.Extensions.ML
/// and load by themselves; files saved before it name LmHead.Extensions, which no longer holds the factories, so they
/// load once LmHead.Extensions.ML is registered with the context.
/// </summary>
[TestClass]
public sealed class FreshProcessLoadTests
{
    public TestContext TestContext { get; set; } = null!;

    private sealed class ChildRow
    {
        public float[] Logits { get; set; } = [];

        public uint NextToken { get; set; }

        public float NextTokenProbability { get; set; }
    }

    private sealed class ChildResult
    {
        public bool MlAssemblyLoadedBeforeLoad { get; set; }

        public string? Error { get; set; }

        public List<ChildRow> Rows { get; set; } = [];
    }

    private static KeyedHiddenRow[] FixtureRows() =>
        [.. Rows(5).Select((r, i) => new KeyedHiddenRow { Hidden = r.Hidden, RequestId = i })];

    private ChildResult LoadInChildProcess(string modelPath, bool register, KeyedHiddenRow[] rows)
    {
        string folder = Path.Combine(TestContext.TestRunResultsDirectory ?? Path.GetTempPath(), $"fresh-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        string rowsPath = Path.Combine(folder, "rows.json"), resultPath = Path.Combine(folder, "result.json");
        File.WriteAllText(rowsPath, JsonSerializer.Serialize(rows.Select(r => new { r.Hidden, r.RequestId })));
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "LmHead.Extensions.ML.FreshProcess.dll"), modelPath, register ? "register" : "no-register", rowsPath, resultPath },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var child = Process.Start(start)!;
        string output = child.StandardOutput.ReadToEnd() + child.StandardError.ReadToEnd();
        Assert.IsTrue(child.WaitForExit(TimeSpan.FromMinutes(2)), "the child process did not finish");
        Assert.AreEqual(0, child.ExitCode, $"child process failed: {output}");
        var result = JsonSerializer.Deserialize<ChildResult>(File.ReadAllText(resultPath))!;
        Directory.Delete(folder, recursive: true);
        Assert.IsFalse(result.MlAssemblyLoadedBeforeLoad, "LmHead.Extensions.ML was loaded before Model.Load; the child would not test a fresh process");
        return result;
    }

    private static void AssertMatchesTensorStages(KeyedHiddenRow[] rows, ChildResult result)
    {
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        Assert.IsNull(result.Error, result.Error);
        Assert.HasCount(rows.Length, result.Rows);
        for (int i = 0; i < rows.Length; i++)
        {
            var expected = Expected(rows[i].Hidden, weight, bias, (ulong)rows[i].RequestId);
            AssertClose(expected.Logits, result.Rows[i].Logits, $"logits of row {i}");
            Assert.AreEqual(expected.Token, result.Rows[i].NextToken, $"token of row {i}");
            Assert.AreEqual(expected.TokenProbability, result.Rows[i].NextTokenProbability, 1e-6f, $"token probability of row {i}");
        }
    }

    [TestMethod]
    public void AModelSavedNowLoadsInAFreshProcessWithoutRegistration()
    {
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        var rows = FixtureRows();
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(rows);
        string path = Path.Combine(TestContext.TestRunResultsDirectory ?? Path.GetTempPath(), $"lmhead-{Guid.NewGuid():N}.zip");
        ml.Model.Save(LmHeadSaveLoadTests.KeyedPipeline(ml, weight, bias).Fit(data), data.Schema, path);

        var result = LoadInChildProcess(path, register: false, rows);

        File.Delete(path);
        AssertMatchesTensorStages(rows, result);
    }

    [TestMethod]
    [DataRow("lmhead-head-v1.zip", DisplayName = "v1 fixture")]
    [DataRow("lmhead-head-v2.zip", DisplayName = "v2 fixture")]
    public void AFileSavedBeforeThePackageSplitLoadsInAFreshProcessOnceTheAssemblyIsRegistered(string fixture)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "MachineLearning", "Fixtures", fixture);
        var rows = FixtureRows();

        var registered = LoadInChildProcess(path, register: true, rows);
        var unregistered = LoadInChildProcess(path, register: false, rows);

        AssertMatchesTensorStages(rows, registered);
        Assert.IsNotNull(unregistered.Error, "a pre-split file loaded without registering LmHead.Extensions.ML; update docs/machine-learning.md");
        StringAssert.Contains(unregistered.Error, "Unable to locate an extension for the contract 'LmHead.");
    }

    [TestMethod]
    public void APreSplitFileSavedAgainLoadsInAFreshProcessWithoutRegistration()
    {
        var ml = new MLContext(seed: 0);
        ml.ComponentCatalog.RegisterAssembly(typeof(LmHeadCatalog).Assembly);
        var rows = FixtureRows();
        var old = ml.Model.Load(Path.Combine(AppContext.BaseDirectory, "MachineLearning", "Fixtures", "lmhead-head-v2.zip"), out var schema);
        string path = Path.Combine(TestContext.TestRunResultsDirectory ?? Path.GetTempPath(), $"lmhead-{Guid.NewGuid():N}.zip");
        ml.Model.Save(old, schema, path);

        var result = LoadInChildProcess(path, register: false, rows);

        File.Delete(path);
        AssertMatchesTensorStages(rows, result);
    }
}
