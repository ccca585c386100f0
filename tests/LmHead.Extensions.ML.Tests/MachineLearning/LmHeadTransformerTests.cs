using LmHead.Extensions.MachineLearning;
using Microsoft.ML;
using Microsoft.ML.Data;
using static LmHead.Extensions.Tests.MachineLearning.LmHeadTestData;

namespace LmHead.Extensions.Tests.MachineLearning;

[TestClass]
public sealed class LmHeadTransformerTests
{
    [TestMethod]
    public void ProjectionMatchesPlainDotProduct()
    {
        var ml = new MLContext(seed: 0);
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        var rows = Rows(4);
        var data = ml.Data.LoadFromEnumerable(rows);
        var model = ml.Transforms.ProjectToLogits("Logits", "Hidden", weight, bias).Fit(data);

        var logits = model.Transform(data).GetColumn<float[]>("Logits").ToArray();

        float[] flatWeight = weight.data<float>().ToArray(), flatBias = bias.data<float>().ToArray();
        for (int i = 0; i < rows.Length; i++)
        {
            var expected = PlainLogits(rows[i].Hidden, flatWeight, flatBias);
            Assert.AreEqual(VocabularySize, logits[i].Length);
            for (int v = 0; v < VocabularySize; v++)
            {
                Assert.AreEqual(expected[v], logits[i][v], 1e-5f, $"row {i}, token {v}");
            }
        }
    }

    [TestMethod]
    public void FullChainMatchesTheTensorStages()
    {
        var ml = new MLContext(seed: 0);
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        var rows = Rows(20);
        var data = ml.Data.LoadFromEnumerable(rows);
        var model = FullPipeline(ml, weight, bias).Fit(data);
        var output = model.Transform(data);

        using var cursor = output.GetRowCursor(output.Schema);
        var id = cursor.GetIdGetter();
        var logits = cursor.GetGetter<VBuffer<float>>(output.Schema["Logits"]);
        var scaled = cursor.GetGetter<VBuffer<float>>(output.Schema["Scaled"]);
        var topK = cursor.GetGetter<VBuffer<float>>(output.Schema["TopK"]);
        var probabilities = cursor.GetGetter<VBuffer<float>>(output.Schema["Probabilities"]);
        var token = cursor.GetGetter<uint>(output.Schema["NextToken"]);
        var tokenProbability = cursor.GetGetter<float>(output.Schema["NextTokenProbability"]);
        int row = 0;
        VBuffer<float> buffer = default;
        while (cursor.MoveNext())
        {
            DataViewRowId rowId = default;
            id(ref rowId);
            var expected = Expected(rows[row].Hidden, weight, bias, rowId.Low);
            logits(ref buffer);
            AssertClose(expected.Logits, buffer.DenseValues().ToArray(), $"logits of row {row}");
            scaled(ref buffer);
            AssertClose(expected.Scaled, buffer.DenseValues().ToArray(), $"scaled logits of row {row}");
            topK(ref buffer);
            AssertClose(expected.TopK, buffer.DenseValues().ToArray(), $"top-k logits of row {row}");
            Assert.AreEqual(VocabularySize - K, buffer.DenseValues().Count(float.IsNegativeInfinity));
            probabilities(ref buffer);
            AssertClose(expected.Probabilities, buffer.DenseValues().ToArray(), $"probabilities of row {row}");
            uint sampled = 0;
            float p = 0;
            token(ref sampled);
            tokenProbability(ref p);
            Assert.AreEqual(expected.Token, sampled, $"token of row {row}");
            Assert.AreEqual(expected.TokenProbability, p, 1e-6f, $"token probability of row {row}");
            Assert.AreEqual(buffer.GetItemOrDefault((int)sampled), p, 1e-6f);
            row++;
        }

        Assert.AreEqual(rows.Length, row);
    }

    [TestMethod]
    public void TransformIsLazy()
    {
        var ml = new MLContext(seed: 0);
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        var model = FullPipeline(ml, weight, bias).Fit(ml.Data.LoadFromEnumerable(Rows(1)));
        var throwing = ml.Data.LoadFromEnumerable(ThrowOnRead());

        var output = model.Transform(throwing);

        Assert.IsNotNull(output.Schema.GetColumnOrNull("NextToken"));
        Assert.ThrowsExactly<InvalidOperationException>(() => output.GetColumn<uint>("NextToken").ToArray());
    }

    [TestMethod]
    public void ProjectionIsComputedOncePerRowAcrossChainedColumns()
    {
        var ml = new MLContext(seed: 0);
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        var rows = Rows(10);
        var data = ml.Data.LoadFromEnumerable(rows);
        var model = (TransformerChain<NextTokenSamplingTransformer>)FullPipeline(ml, weight, bias).Fit(data);
        var projection = (LmHeadTransformer)model.First();

        var predictions = ml.Data.CreateEnumerable<HeadPrediction>(model.Transform(data), reuseRowObject: false).ToList();

        Assert.AreEqual(rows.Length, predictions.Count);
        Assert.AreEqual(rows.Length, projection.ComputedRowCount, "the projection ran more than once for some row");
        Assert.IsTrue(model.All(t => ((LmHeadTransformer)t).ComputedRowCount == rows.Length));
    }

    [TestMethod]
    public void MixesWithBuiltInTransforms()
    {
        var ml = new MLContext(seed: 0);
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        var rows = Rows(3);
        var data = ml.Data.LoadFromEnumerable(rows);
        var pipeline = ml.Transforms.ProjectToLogits("Logits", "Hidden", weight, bias)
            .Append(ml.Transforms.CopyColumns("LogitsCopy", "Logits"))
            .Append(ml.Transforms.Concatenate("Both", "Hidden", "LogitsCopy"))
            .Append(ml.Transforms.NormalizeToProbabilities("Probabilities", "LogitsCopy"));

        var output = pipeline.Fit(data).Transform(data);

        var both = output.GetColumn<float[]>("Both").ToArray();
        var probabilities = output.GetColumn<float[]>("Probabilities").ToArray();
        for (int i = 0; i < rows.Length; i++)
        {
            var expected = Expected(rows[i].Hidden, weight, bias, (ulong)i);
            AssertClose(rows[i].Hidden.Concat(expected.Logits).ToArray(), both[i], $"concatenated row {i}");
            Assert.AreEqual(1.0, probabilities[i].Sum(p => (double)p), 1e-5);
        }
    }

    [TestMethod]
    public void PredictionEngineMatchesTheTensorStages()
    {
        var ml = new MLContext(seed: 0);
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        var rows = Rows(5);
        var model = FullPipeline(ml, weight, bias).Fit(ml.Data.LoadFromEnumerable(rows));
        using var engine = ml.Model.CreatePredictionEngine<HiddenRow, HeadPrediction>(model);

        foreach (var row in rows)
        {
            var prediction = engine.Predict(row);
            var expected = Expected(row.Hidden, weight, bias, rowKey: 0);
            AssertClose(expected.Logits, prediction.Logits, "prediction logits");
            AssertClose(expected.Probabilities, prediction.Probabilities, "prediction probabilities");
            Assert.IsTrue(expected.Probabilities[prediction.NextToken] > 0, "sampled a token outside the top k");
            Assert.AreEqual(expected.Probabilities[prediction.NextToken], prediction.NextTokenProbability, 1e-6f);
        }
    }

    [TestMethod]
    public void ParallelCursorsGiveTheSameTokenPerRowAsSequential()
    {
        var ml = new MLContext(seed: 0);
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        var data = ml.Data.Cache(ml.Data.LoadFromEnumerable(Rows(400)));
        var output = FullPipeline(ml, weight, bias).Fit(data).Transform(data);
        var token = output.Schema["NextToken"];

        var sequential = ReadTokens([output.GetRowCursor([token])], token);
        var cursors = output.GetRowCursorSet([token], 2);
        var parallel = new Dictionary<ulong, uint>[cursors.Length];
        Parallel.For(0, cursors.Length, i => parallel[i] = ReadTokens([cursors[i]], token));
        var merged = parallel.SelectMany(d => d).ToDictionary(p => p.Key, p => p.Value);

        Assert.IsTrue(cursors.Length > 1, "the data view did not split into parallel cursors");
        Assert.AreEqual(400, sequential.Count);
        CollectionAssert.AreEquivalent(sequential.ToList(), merged.ToList());
        Assert.IsTrue(sequential.Values.Distinct().Count() > 1, "every row sampled the same token");
    }

    [TestMethod]
    public void SampledTokensFollowTheProbabilitiesAcrossRows()
    {
        // 4000 copies of one hidden state: each row draws from its own stream, so the token counts must fit the
        // row's top-k distribution. Chi-square with K - 1 = 4 degrees of freedom; 18.47 is the 0.1% critical value.
        var ml = new MLContext(seed: 0);
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        var hidden = Rows(1)[0].Hidden;
        var data = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 4000).Select(_ => new HiddenRow { Hidden = hidden }).ToArray());
        var output = FullPipeline(ml, weight, bias).Fit(data).Transform(data);
        var probabilities = Expected(hidden, weight, bias, 0).Probabilities;

        var counts = output.GetColumn<uint>("NextToken").GroupBy(t => t).ToDictionary(g => g.Key, g => g.Count());

        Assert.IsTrue(counts.Keys.All(t => probabilities[t] > 0), "sampled a token outside the top k");
        double chiSquare = Enumerable.Range(0, VocabularySize).Where(t => probabilities[t] > 0).Sum(t =>
        {
            double expected = 4000.0 * probabilities[t];
            double observed = counts.GetValueOrDefault((uint)t);
            return (observed - expected) * (observed - expected) / expected;
        });
        Assert.IsTrue(chiSquare < 18.47, $"chi-square {chiSquare:F2} with 4 degrees of freedom");
        Assert.AreEqual(K, counts.Count, "every top-k token should be drawn at least once in 4000 rows");
    }

    [TestMethod]
    [DoNotParallelize]
    public void ReadingRowsLeaksNoTensors()
    {
        var ml = new MLContext(seed: 0);
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        var data = ml.Data.LoadFromEnumerable(Rows(30));
        var model = FullPipeline(ml, weight, bias).Fit(data);
        var output = model.Transform(data);
        DrainFinalizers();
        long before = TorchSharp.torch.Tensor.TotalCount;

        var predictions = ml.Data.CreateEnumerable<HeadPrediction>(output, reuseRowObject: false).ToList();
        using (var engine = ml.Model.CreatePredictionEngine<HiddenRow, HeadPrediction>(model))
        {
            engine.Predict(Rows(1)[0]);
        }

        // Disposing a PredictionEngine must not dispose the model it was created from.
        Assert.AreEqual(30, ml.Data.CreateEnumerable<HeadPrediction>(model.Transform(data), reuseRowObject: false).Count());

        Assert.AreEqual(30, predictions.Count);
        long after = TorchSharp.torch.Tensor.TotalCount;

        // The model and views hold tensors counted in `before`: without these the JIT may end their lifetimes at their last
        // use, and a collection during the reads finalizes them and lowers the count (seen in loaded full runs).
        GC.KeepAlive(model);
        GC.KeepAlive(output);
        GC.KeepAlive(data);
        Assert.AreEqual(before, after);
    }

    /// <summary>
    /// Finalizes earlier tests' garbage tensors now, so that a finalizer running during the measurement cannot lower the
    /// count (and no collection runs afterwards that could hide a leak).
    /// </summary>
    private static void DrainFinalizers()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    private static Dictionary<ulong, uint> ReadTokens(DataViewRowCursor[] cursors, DataViewSchema.Column column)
    {
        var tokens = new Dictionary<ulong, uint>();
        foreach (var cursor in cursors)
        {
            using (cursor)
            {
                var id = cursor.GetIdGetter();
                var getter = cursor.GetGetter<uint>(column);
                while (cursor.MoveNext())
                {
                    DataViewRowId rowId = default;
                    uint value = 0;
                    id(ref rowId);
                    getter(ref value);
                    tokens.Add(rowId.Low, value);
                }
            }
        }

        return tokens;
    }

    private static IEnumerable<HiddenRow> ThrowOnRead()
    {
        yield return Rows(1)[0];
        throw new InvalidOperationException("the input was read");
    }
}
