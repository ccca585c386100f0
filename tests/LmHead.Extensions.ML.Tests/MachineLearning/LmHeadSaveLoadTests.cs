using Microsoft.ML;
using LmHead.Extensions.MachineLearning;
using Microsoft.ML.Data;
using static LmHead.Extensions.Tests.MachineLearning.LmHeadTestData;

namespace LmHead.Extensions.Tests.MachineLearning;

public sealed class KeyedHiddenRow
{
    [VectorType(HiddenSize)]
    public float[] Hidden { get; set; } = [];

    public long RequestId { get; set; }
}

public sealed class HeadLogits
{
    public float[] Logits { get; set; } = [];
}

public sealed class WideHiddenRow
{
    [VectorType(64)]
    public float[] Hidden { get; set; } = [];
}

[TestClass]
public sealed class LmHeadSaveLoadTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void SavedModelLoadsInAFreshContextWithEqualOutputs()
    {
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        var rows = Rows(25).Select((r, i) => new KeyedHiddenRow { Hidden = r.Hidden, RequestId = (i * 7) + 3 }).ToArray();
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(rows);
        var model = KeyedPipeline(ml, weight, bias).Fit(data);
        var before = ml.Data.CreateEnumerable<HeadPrediction>(model.Transform(data), reuseRowObject: false).ToList();
        string path = Path.Combine(TestContext.TestRunResultsDirectory ?? Path.GetTempPath(), $"lmhead-{Guid.NewGuid():N}.zip");

        ml.Model.Save(model, data.Schema, path);
        var fresh = new MLContext(seed: 123);
        var loaded = fresh.Model.Load(path, out var loadedSchema);
        var after = fresh.Data.CreateEnumerable<HeadPrediction>(loaded.Transform(fresh.Data.LoadFromEnumerable(rows)), reuseRowObject: false).ToList();
        using var engine = fresh.Model.CreatePredictionEngine<KeyedHiddenRow, HeadPrediction>(loaded, loadedSchema);

        Assert.IsNotInstanceOfType<LmHead.Extensions.MachineLearning.LmHeadTransformer>(loaded, "expected the stock-transform saved form");
        Assert.AreEqual(rows.Length, after.Count);
        for (int i = 0; i < rows.Length; i++)
        {
            var expected = Expected(rows[i].Hidden, weight, bias, (ulong)rows[i].RequestId);
            AssertClose(before[i].Logits, after[i].Logits, $"logits of row {i}");
            AssertClose(expected.Logits, after[i].Logits, $"logits of row {i} against the tensor stages");
            AssertClose(before[i].Probabilities, after[i].Probabilities, $"probabilities of row {i}");
            Assert.AreEqual(expected.Token, before[i].NextToken, $"token of row {i} before saving");
            Assert.AreEqual(before[i].NextToken, after[i].NextToken, $"token of row {i}");
            Assert.AreEqual(before[i].NextTokenProbability, after[i].NextTokenProbability, 1e-6f, $"token probability of row {i}");
            var predicted = engine.Predict(rows[i]);
            Assert.AreEqual(before[i].NextToken, predicted.NextToken, $"prediction-engine token of row {i}");
            AssertClose(before[i].Logits, predicted.Logits, $"prediction-engine logits of row {i}");
        }

        File.Delete(path);
    }

    [TestMethod]
    public void KeyedSamplerGivesTheSameTokensSequentiallyAndInParallel()
    {
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        var rows = Rows(200).Select((r, i) => new KeyedHiddenRow { Hidden = r.Hidden, RequestId = 1000 - i }).ToArray();
        var ml = new MLContext(seed: 0);
        var data = ml.Data.Cache(ml.Data.LoadFromEnumerable(rows));
        var output = KeyedPipeline(ml, weight, bias).Fit(data).Transform(data);

        var tokens = output.GetColumn<uint>("NextToken").ToArray();

        for (int i = 0; i < rows.Length; i++)
        {
            Assert.AreEqual(Expected(rows[i].Hidden, weight, bias, (ulong)rows[i].RequestId).Token, tokens[i], $"row {i}");
        }
    }

    [TestMethod]
    public void SavingASamplerKeyedByRowIdThrowsAndNamesTheAlternative()
    {
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(Rows(2));
        var model = FullPipeline(ml, weight, bias).Fit(data);
        using var stream = new MemoryStream();

        var error = Assert.ThrowsExactly<NotSupportedException>(() => ml.Model.Save(model, data.Schema, stream));

        StringAssert.Contains(error.Message, "streamKeyColumnName");
    }

    [TestMethod]
    public void StreamKeyColumnOfTheWrongTypeIsRejectedAtFit()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(Rows(1));

        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(
            () => ml.Transforms.SampleNextToken("NextToken", "Hidden", 1, streamKeyColumnName: "Hidden").Fit(data));

        StringAssert.Contains(error.Message, "stream-key column 'Hidden' must be a scalar UInt64, UInt32, Int64 or Int32");
    }

    [TestMethod]
    public void SingleStageAndMixedChainsRoundTrip()
    {
        var ml = new MLContext(seed: 0);
        var rows = Rows(6);
        var data = ml.Data.LoadFromEnumerable(rows);
        var single = ml.Transforms.KeepTopK("TopK", "Hidden", 3).Fit(data);
        var mixed = ml.Transforms.CopyColumns("Copy", "Hidden")
            .Append(ml.Transforms.ScaleTemperature("Scaled", "Copy", 0.5f))
            .Append(ml.Transforms.Concatenate("Both", "Hidden", "Scaled"))
            .Fit(data);

        foreach (var (model, column) in new (ITransformer, string)[] { (single, "TopK"), (mixed, "Both") })
        {
            var loaded = SaveAndLoad(ml, model, data.Schema);
            var expected = model.Transform(data).GetColumn<float[]>(column).ToArray();
            var actual = loaded.Transform(data).GetColumn<float[]>(column).ToArray();
            for (int i = 0; i < rows.Length; i++)
            {
                AssertClose(expected[i], actual[i], $"{column} of row {i}");
            }
        }
    }

    [TestMethod]
    [DataRow("lmhead-head-v1.zip", DisplayName = "v1: parameters and weights in MapValue tables")]
    [DataRow("lmhead-head-v2.zip", DisplayName = "v2: projection weights in ReplaceMissingValues")]
    public void ModelSavedByAnEarlierReleaseStillLoads(string fixture)
    {
        // Fixtures/lmhead-head-v*.zip were saved by the release that introduced each saved format (KeyedPipeline over
        // Head() and Rows(5) with RequestId = row index). If this fails, a contract or column name changed: add a new
        // versioned name instead of changing an old one.
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        var rows = Rows(5).Select((r, i) => new KeyedHiddenRow { Hidden = r.Hidden, RequestId = i }).ToArray();
        var ml = new MLContext(seed: 0);
        // These files predate the LmHead.Extensions.ML package and name LmHead.Extensions as the factories' assembly;
        // ML.NET registers only that one, so they load once the ML assembly is registered (see FreshProcessLoadTests).
        ml.ComponentCatalog.RegisterAssembly(typeof(LmHeadCatalog).Assembly);

        var loaded = ml.Model.Load(Path.Combine(AppContext.BaseDirectory, "MachineLearning", "Fixtures", fixture), out _);
        var predictions = ml.Data.CreateEnumerable<HeadPrediction>(loaded.Transform(ml.Data.LoadFromEnumerable(rows)), reuseRowObject: false).ToList();

        for (int i = 0; i < rows.Length; i++)
        {
            var expected = Expected(rows[i].Hidden, weight, bias, (ulong)i);
            AssertClose(expected.Logits, predictions[i].Logits, $"logits of row {i}");
            Assert.AreEqual(expected.Token, predictions[i].NextToken, $"token of row {i}");
        }
    }

    [TestMethod]
    [Ignore("Run by hand (LMHEAD_FIXTURE_PATH=...) to write a fixture of the current saved format when a new format is introduced; never overwrite an existing fixture.")]
    public void WriteFixture()
    {
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        var rows = Rows(5).Select((r, i) => new KeyedHiddenRow { Hidden = r.Hidden, RequestId = i }).ToArray();
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(rows);
        ml.Model.Save(KeyedPipeline(ml, weight, bias).Fit(data), data.Schema, Environment.GetEnvironmentVariable("LMHEAD_FIXTURE_PATH")!);
    }

    [TestMethod]
    public void ProjectionWeightsAndBiasRoundTripBitForBit()
    {
        // One-hot hidden states read the weight columns back exactly: logits[i] = W[i, j] + bias[i] with one product by 1.
        const int v = 13, d = HiddenSize;
        float[] special = [-0f, 1e-42f, -1e-42f, float.Epsilon, 3.0e38f, -3.0e38f, 1.0000001f, MathF.PI, -2.5f, 65504.5f];
        var random = new Random(5);
        var weights = new float[v * d];
        for (int i = 0; i < weights.Length; i++)
        {
            weights[i] = i < special.Length ? special[i] : (float)(random.NextDouble() - 0.5);
        }

        var ml = new MLContext(seed: 0);
        var rows = Enumerable.Range(0, d).Select(j => new HiddenRow { Hidden = [.. Enumerable.Range(0, d).Select(k => k == j ? 1f : 0f)] }).ToArray();
        var data = ml.Data.LoadFromEnumerable(rows);
        using var weight = TorchSharp.torch.tensor(weights, [v, d]);
        var model = ml.Transforms.ProjectToLogits("Logits", "Hidden", weight).Fit(data);

        var loaded = SaveAndLoad(ml, model, data.Schema);
        var logits = loaded.Transform(data).GetColumn<float[]>("Logits").ToArray();

        for (int j = 0; j < d; j++)
        {
            for (int i = 0; i < v; i++)
            {
                Assert.AreEqual(weights[(i * d) + j], logits[j][i], 0f, $"W[{i}, {j}] after loading");
            }
        }
    }

    [TestMethod]
    [DoNotParallelize]
    public void ALoadedProjectionReceivesItsWeightsOnceNotPerRow()
    {
        // Format v1 copied the whole matrix out of a lookup table on every row; v2 hands it over on the first row only,
        // also to a second copy loaded from the same file (it shares the rebuilt projection).
        const int v = 4096, d = 64, rowCount = 60;
        var ml = new MLContext(seed: 0);
        var random = new Random(9);
        var rows = Enumerable.Range(0, rowCount).Select(_ => new WideHiddenRow { Hidden = RandomVector(random, d) }).ToArray();
        var data = ml.Data.LoadFromEnumerable(rows);
        using var weight = TorchSharp.torch.randn(v, d, generator: new TorchSharp.torch.Generator(3));
        var model = ml.Transforms.ProjectToLogits("Logits", "Hidden", weight).Fit(data);
        using var stream = new MemoryStream();
        ml.Model.Save(model, data.Schema, stream);
        var expected = model.Transform(data).GetColumn<float[]>("Logits").ToArray();
        long receivedBefore = SavedProjectionSlots.WeightValuesReceived;

        var loaded = new MLContext(seed: 1).Model.Load(new MemoryStream(stream.ToArray()), out _);
        var actual = loaded.Transform(data).GetColumn<float[]>("Logits").ToArray();
        var again = loaded.Transform(data).GetColumn<float[]>("Logits").ToArray();
        var second = new MLContext(seed: 2).Model.Load(new MemoryStream(stream.ToArray()), out _);
        var fromSecond = second.Transform(data).GetColumn<float[]>("Logits").ToArray();

        Assert.AreEqual((long)v * d, SavedProjectionSlots.WeightValuesReceived - receivedBefore, "weight values handed to the projection");
        for (int i = 0; i < rowCount; i++)
        {
            AssertClose(expected[i], actual[i], $"logits of row {i}");
            AssertClose(expected[i], again[i], $"logits of row {i}, second pass");
            AssertClose(expected[i], fromSecond[i], $"logits of row {i}, second loaded copy");
        }

        GC.KeepAlive(loaded);
    }

    [TestMethod]
    [DoNotParallelize]
    public void ALoadedProjectionIsReleasedWithItsModel()
    {
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(Rows(3));
        using var stream = new MemoryStream();
        ml.Model.Save(ml.Transforms.ProjectToLogits("Logits", "Hidden", weight, bias).Fit(data), data.Schema, stream);
        Collect();
        var before = SavedProjectionSlots.LiveIds();

        var weak = LoadAndScore(stream.ToArray());
        var added = SavedProjectionSlots.LiveIds().Except(before).ToArray();
        Assert.HasCount(1, added, "one projection rebuilt while the loaded model is referenced");
        Collect();

        Assert.IsFalse(weak.TryGetTarget(out _), "the loaded model was not collected");
        CollectionAssert.DoesNotContain(SavedProjectionSlots.LiveIds(), added[0], "the projection outlived its model");

        static void Collect()
        {
            for (int i = 0; i < 3; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static WeakReference<ITransformer> LoadAndScore(byte[] saved)
    {
        // A PredictionEngine scores on this thread: a cursor that ML.NET splits over its background threads can leave a
        // stale reference to the last model on an idle thread's stack (seen with dotnet-dump), which keeps it alive until
        // that thread runs again.
        var context = new MLContext(seed: 1);
        var loaded = context.Model.Load(new MemoryStream(saved), out var schema);
        using (var engine = context.Model.CreatePredictionEngine<HiddenRow, HeadLogits>(loaded, schema))
        {
            Assert.HasCount(VocabularySize, engine.Predict(Rows(1)[0]).Logits);
        }

        return new WeakReference<ITransformer>(loaded);
    }

    [TestMethod]
    public void ConcurrentFirstRowsOfTwoLoadedCopiesAgree()
    {
        // Two loads of one file share the rebuilt projection; the first rows of several engines race to hand it over.
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        var rows = Rows(40);
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(rows);
        var model = ml.Transforms.ProjectToLogits("Logits", "Hidden", weight, bias).Fit(data);
        using var stream = new MemoryStream();
        ml.Model.Save(model, data.Schema, stream);
        var copies = Enumerable.Range(0, 2).Select(copy =>
        {
            stream.Position = 0;
            return new MLContext(seed: 1).Model.Load(new MemoryStream(stream.ToArray()), out _);
        }).ToArray();
        var expected = rows.Select(r => PlainLogits(r.Hidden, weight.data<float>().ToArray(), bias.data<float>().ToArray())).ToArray();

        var results = new float[8][][];
        Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, e =>
        {
            var context = new MLContext(seed: e);
            using var engine = context.Model.CreatePredictionEngine<HiddenRow, HeadPrediction>(copies[e % 2], ignoreMissingColumns: true);
            results[e] = rows.Select(r => engine.Predict(r).Logits).ToArray();
        });

        for (int e = 0; e < results.Length; e++)
        {
            for (int i = 0; i < rows.Length; i++)
            {
                AssertClose(expected[i], results[e][i], $"engine {e}, row {i}");
            }
        }
    }

    [TestMethod]
    public void ALoadedProjectionRejectsAHiddenStateOfTheWrongSizeNamingBothSizes()
    {
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(Rows(2));
        var loaded = SaveAndLoad(ml, ml.Transforms.ProjectToLogits("Logits", "Hidden", weight, bias).Fit(data), data.Schema);
        var wrong = ml.Data.LoadFromEnumerable(new[] { new WideHiddenRow { Hidden = new float[64] } });

        var error = Assert.Throws<Exception>(() => loaded.Transform(wrong).GetColumn<float[]>("Logits").ToArray());

        var inner = error;
        while (inner is not ArgumentOutOfRangeException && inner.InnerException is { } next)
        {
            inner = next;
        }

        StringAssert.Contains(inner.Message, $"the hidden state has 64 values, expected {HiddenSize} (d)");
    }

    [TestMethod]
    public void SavingNonFiniteWeightsThrowsAndCountsThem()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(Rows(1));
        var values = new float[VocabularySize * HiddenSize];
        values[3] = float.NaN;
        values[7] = float.PositiveInfinity;
        using var weight = TorchSharp.torch.tensor(values, [VocabularySize, HiddenSize]);
        var model = ml.Transforms.ProjectToLogits("Logits", "Hidden", weight).Fit(data);
        using var stream = new MemoryStream();

        var error = Assert.ThrowsExactly<NotSupportedException>(() => ml.Model.Save(model, data.Schema, stream));

        StringAssert.Contains(error.Message, "2 NaN or infinite values");
    }

    private static ITransformer SaveAndLoad(MLContext ml, ITransformer model, DataViewSchema schema)
    {
        using var stream = new MemoryStream();
        ml.Model.Save(model, schema, stream);
        stream.Position = 0;
        return new MLContext(seed: 1).Model.Load(stream, out _);
    }

    internal static EstimatorChain<LmHead.Extensions.MachineLearning.NextTokenSamplingTransformer> KeyedPipeline(MLContext ml, TorchSharp.torch.Tensor weight, TorchSharp.torch.Tensor bias) =>
        ml.Transforms.ProjectToLogits("Logits", "Hidden", weight, bias)
            .Append(ml.Transforms.ScaleTemperature("Scaled", "Logits", Temperature))
            .Append(ml.Transforms.KeepTopK("TopK", "Scaled", K))
            .Append(ml.Transforms.NormalizeToProbabilities("Probabilities", "TopK"))
            .Append(ml.Transforms.SampleNextToken("NextToken", "Probabilities", Seed, streamKeyColumnName: "RequestId"));
}
