using LmHead.Extensions.MachineLearning;
using LmHead.Extensions.Tests.MachineLearning;
using Microsoft.ML;
using Microsoft.ML.Data;
using static LmHead.Extensions.Tests.MachineLearning.LmHeadTestData;

namespace LmHead.Extensions.Tests.Reliability;

public sealed class LogitsRow
{
    [VectorType(VocabularySize)]
    public float[] Logits { get; set; } = [];

    public long RequestId { get; set; }
}

public sealed class SavedStageOutput
{
    [ColumnName(SavedColumns.Output)]
    public float[] Output { get; set; } = [];
}

public sealed class SavedTokenRow
{
    [ColumnName(SavedColumns.TokenId)]
    public uint TokenId { get; set; }
}

/// <summary>
/// Errors while scoring a loaded model (docs/reliability.md, "Saved ML.NET models"): a tampered parameter table is an
/// <see cref="InvalidDataException"/> naming the contract and the values at the first row, never a different model;
/// a NaN row is our <see cref="ArgumentException"/> naming the token; neither leaves a tensor alive.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class SavedModelScoringFailureTests
{
    public static IEnumerable<object[]> TamperedParameters =>
    [
        [SavedContracts.ScaleTemperature, new float[] { float.NaN }, "NaN"],
        [SavedContracts.ScaleTemperature, new float[] { -1f }, "-1"],
        [SavedContracts.ScaleTemperature, new float[] { 0.7f, 2f }, "2 values, expected 1"],
        [SavedContracts.KeepTopK, new float[] { 0f }, "k = 0"],
        [SavedContracts.KeepTopK, new float[] { 2.5f }, "k = 2.5"],
        [SavedContracts.KeepTopK, new float[] { float.NaN }, "k = NaN"],
        [SavedContracts.NormalizeToProbabilities, new float[] { 1f }, "placeholder [0]"],
        [SavedContracts.FilterLogits, new float[] { 1f, float.NaN, 1f }, "NaN"],
        [SavedContracts.FilterLogits, new float[] { 9f, 0.5f }, "filter kind 9"],
        [SavedContracts.FilterLogits, new float[] { 3f, 1.5f, 2f }, "a token id = 1.5"],
        [SavedContracts.ProjectToLogits, new float[] { VocabularySize, 1f, 0f, 1f }, "4 values, but V = 32, d = 1"],
        [SavedContracts.SampleNextTokenSignedKey, new float[] { 42f, 0f, 0f, 70000f }, "seed word 3 = 70000"],
        [SavedContracts.SampleNextTokenSignedKey, new float[] { 42f }, "1 values, expected 4"],
    ];

    [TestMethod]
    [DynamicData(nameof(TamperedParameters))]
    public void ATamperedParameterTableIsAnErrorNamingTheContractAndTheValue(string contract, float[] parameters, string fragment)
    {
        string path = SaveStage(contract, parameters);
        var ml = new MLContext(seed: 1);
        var model = ml.LoadLmHeadModel(path, out var schema);
        var rows = Enumerable.Range(0, 4).Select(i => new LogitsRow { Logits = Probabilities(i), RequestId = i }).ToArray();

        // PredictionEngine: our exception as it is.
        bool sampler = contract == SavedContracts.SampleNextTokenSignedKey;
        var direct = Assert.ThrowsExactly<InvalidDataException>(() =>
        {
            if (sampler)
            {
                using var engine = ml.Model.CreatePredictionEngine<LogitsRow, SavedTokenRow>(model, schema);
                engine.Predict(rows[0]);
            }
            else
            {
                using var engine = ml.Model.CreatePredictionEngine<LogitsRow, SavedStageOutput>(model, schema);
                engine.Predict(rows[0]);
            }
        });
        StringAssert.Contains(direct.Message, contract);
        StringAssert.Contains(direct.Message, fragment);

        // CreateEnumerable: ML.NET runs loaded CustomMappings on parallel workers and wraps what a worker throws.
        var wrapped = Assert.Throws<Exception>(() =>
        {
            var view = model.Transform(ml.Data.LoadFromEnumerable(rows));
            _ = sampler
                ? ml.Data.CreateEnumerable<SavedTokenRow>(view, reuseRowObject: false).Count()
                : ml.Data.CreateEnumerable<SavedStageOutput>(view, reuseRowObject: false).Count();
        });
        var ours = wrapped as InvalidDataException ?? wrapped.InnerException as InvalidDataException;
        Assert.IsNotNull(ours, $"expected our InvalidDataException or ML.NET's wrapper around it, got {wrapped}");
        StringAssert.Contains(ours.Message, contract);
        File.Delete(path);
    }

    [TestMethod]
    public void ANaNRowThroughALoadedModelIsOurArgumentExceptionAndLeavesNoTensor()
    {
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        var rows = Rows(8).Select((r, i) => new KeyedHiddenRow { Hidden = r.Hidden, RequestId = i }).ToArray();
        var ml = new MLContext(seed: 0);
        string path = Path.Combine(Path.GetTempPath(), $"lmhead-nan-{Guid.NewGuid():N}.zip");
        ml.Model.Save(LmHeadSaveLoadTests.KeyedPipeline(ml, weight, bias).Fit(ml.Data.LoadFromEnumerable(rows)), ml.Data.LoadFromEnumerable(rows).Schema, path);
        var model = ml.LoadLmHeadModel(path, out var schema);
        var bad = rows.Select(r => new KeyedHiddenRow { Hidden = r.Hidden.ToArray(), RequestId = r.RequestId }).ToArray();
        bad[5].Hidden[2] = float.NaN;
        using var engine = ml.Model.CreatePredictionEngine<KeyedHiddenRow, HeadPrediction>(model, schema);
        engine.Predict(rows[0]); // the first row rebuilds the projection, which lives as long as the model
        Assert.HasCount(rows.Length, ml.Data.CreateEnumerable<HeadPrediction>(model.Transform(ml.Data.LoadFromEnumerable(rows)), reuseRowObject: false).ToList());
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        long before = TorchSharp.torch.Tensor.TotalCount;

        var direct = Assert.ThrowsExactly<ArgumentException>(() => engine.Predict(bad[5]));
        var viaEnumerable = Assert.Throws<Exception>(() =>
            ml.Data.CreateEnumerable<HeadPrediction>(model.Transform(ml.Data.LoadFromEnumerable(bad)), reuseRowObject: false).ToList());
        var viaCursorSet = Assert.Throws<Exception>(() => ReadAll(model.Transform(ml.Data.LoadFromEnumerable(bad))));

        StringAssert.Contains(direct.Message, "The logit of token 0 is NaN");
        foreach (var ex in new[] { viaEnumerable, viaCursorSet })
        {
            // ML.NET's "Splitter/consolidator worker encountered exception" wraps ours on the parallel path.
            var ours = ex as ArgumentException ?? ex.InnerException as ArgumentException;
            Assert.IsNotNull(ours, ex.ToString());
            StringAssert.Contains(ours.Message, "The logit of token 0 is NaN");
        }

        Assert.AreEqual(before, TorchSharp.torch.Tensor.TotalCount, "live tensors after three failed NaN rows");
        Assert.AreEqual(engine.Predict(rows[1]).NextToken, ml.Data.CreateEnumerable<HeadPrediction>(model.Transform(ml.Data.LoadFromEnumerable(rows)), reuseRowObject: false).ElementAt(1).NextToken, "scoring goes on after the error");
        File.Delete(path);
    }

    [TestMethod]
    public void NaNFirstRowsRacingOnAFreshlyLoadedModelLeaveOnlyTheOneRebuiltProjection()
    {
        // The first rows of a loaded model rebuild its projection; with parallel cursors or several engines they race,
        // and a rebuilt projection that lost the race must be freed, not left to a finalizer.
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        var rows = Rows(4).Select((r, i) => new KeyedHiddenRow { Hidden = r.Hidden, RequestId = i }).ToArray();
        var nan = new KeyedHiddenRow { Hidden = [.. Enumerable.Repeat(float.NaN, HiddenSize)], RequestId = 9 };
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(rows);
        var fitted = LmHeadSaveLoadTests.KeyedPipeline(ml, weight, bias).Fit(data);

        long Delta(int engines)
        {
            using var stream = new MemoryStream();
            ml.Model.Save(fitted, data.Schema, stream); // a new file id each time, so nothing is shared with earlier loads
            var model = new MLContext(seed: 1).LoadLmHeadModel(new MemoryStream(stream.ToArray()), out var schema);
            var contexts = Enumerable.Range(0, engines).Select(e => new MLContext(seed: e)).ToArray();
            var predictors = contexts.Select(c => c.Model.CreatePredictionEngine<KeyedHiddenRow, HeadPrediction>(model, schema)).ToArray();
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            long before = TorchSharp.torch.Tensor.TotalCount;
            using var start = new Barrier(engines);
            Parallel.For(0, engines, new ParallelOptions { MaxDegreeOfParallelism = engines }, e =>
            {
                start.SignalAndWait();
                Assert.ThrowsExactly<ArgumentException>(() => predictors[e].Predict(nan));
                Assert.AreEqual(VocabularySize, predictors[e].Predict(rows[e % rows.Length]).Logits.Length);
            });
            long delta = TorchSharp.torch.Tensor.TotalCount - before;
            foreach (var predictor in predictors)
            {
                predictor.Dispose();
            }

            GC.KeepAlive(model);
            return delta;
        }

        long single = Delta(1);
        for (int attempt = 0; attempt < 6; attempt++)
        {
            Assert.AreEqual(single, Delta(8), $"attempt {attempt}: live tensors after 8 racing first rows, against one");
        }
    }

    private static void ReadAll(IDataView view)
    {
        var column = view.Schema["NextToken"];
        var cursors = view.GetRowCursorSet([column], 2);
        try
        {
            Parallel.ForEach(cursors, cursor =>
            {
                var getter = cursor.GetGetter<uint>(column);
                uint token = 0;
                while (cursor.MoveNext())
                {
                    getter(ref token);
                }
            });
        }
        catch (AggregateException ex)
        {
            throw ex.InnerExceptions[0];
        }
        finally
        {
            foreach (var cursor in cursors)
            {
                cursor.Dispose();
            }
        }
    }

    private static float[] Probabilities(int seed)
    {
        var values = RandomVector(new Random(seed), VocabularySize).Select(MathF.Abs).ToArray();
        float sum = values.Sum();
        return [.. values.Select(v => v / sum)];
    }

    /// <summary>Saves one stage's saved form (the chain <c>SavedForm</c> writes) with the given parameter table.</summary>
    private static string SaveStage(string contract, float[] parameters)
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(Array.Empty<LogitsRow>());
        var chain = new EstimatorChain<ITransformer>()
            .Append<ITransformer>(ml.Transforms.CopyColumns(SavedColumns.Input, "Logits"))
            .Append<ITransformer>(ml.Transforms.CustomMapping(new SavedParameterKeyFactory().GetMapping(), SavedContracts.ParameterKey))
            .Append<ITransformer>(ml.Transforms.Conversion.MapValue(
                SavedColumns.Parameters, [new KeyValuePair<uint, float[]>(0, parameters)], SavedColumns.ParameterKey));
        chain = contract switch
        {
            SavedContracts.ScaleTemperature => chain.Append<ITransformer>(ml.Transforms.CustomMapping(new SavedTemperatureFactory().GetMapping(), contract)),
            SavedContracts.KeepTopK => chain.Append<ITransformer>(ml.Transforms.CustomMapping(new SavedTopKFactory().GetMapping(), contract)),
            SavedContracts.NormalizeToProbabilities => chain.Append<ITransformer>(ml.Transforms.CustomMapping(new SavedSoftmaxFactory().GetMapping(), contract)),
            SavedContracts.FilterLogits => chain.Append<ITransformer>(ml.Transforms.CustomMapping(new SavedLogitsFilterFactory().GetMapping(), contract)),
            SavedContracts.ProjectToLogits => chain.Append<ITransformer>(ml.Transforms.CustomMapping(new SavedProjectionFactory().GetMapping(), contract)),
            _ => chain
                .Append<ITransformer>(ml.Transforms.Conversion.ConvertType(SavedColumns.StreamKey, "RequestId", DataKind.Int64))
                .Append<ITransformer>(ml.Transforms.CustomMapping(new SavedSignedKeySamplerFactory().GetMapping(), contract)),
        };
        string path = Path.Combine(Path.GetTempPath(), $"lmhead-tampered-{Guid.NewGuid():N}.zip");
        ml.Model.Save(chain.Fit(data), data.Schema, path);
        return path;
    }
}
