using LmHead.Extensions.Decoding;
using LmHead.Extensions.MachineLearning;
using Microsoft.ML;
using Microsoft.ML.Data;
using static LmHead.Extensions.Tests.MachineLearning.LmHeadTestData;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Serving;

/// <summary>ML.NET chains turned into decoding pipelines: what is recovered, what is refused, and DecodeNextToken built from options.</summary>
[TestClass]
public sealed class ChainConversionTests
{
    private static readonly DecodingOptions Options = new()
    {
        Temperature = 0.8f,
        TopK = 9,
        TopP = 0.9f,
        MinP = 0.02f,
        LogitBias = new Dictionary<int, float> { [3] = float.NegativeInfinity, [4] = 1.5f },
        Seed = 1234,
    };

    internal sealed class StepRow
    {
        [VectorType(VocabularySize)]
        public float[] Logits { get; set; } = [];

        public long Step { get; set; }
    }

    private sealed class TokenRow
    {
        public uint NextToken { get; set; }
    }

    internal static StepRow[] RandomRows(int count, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(t => new StepRow { Logits = RandomVector(random, VocabularySize).Select(v => 3 * v).ToArray(), Step = t })];
    }

    private static ITransformer SaveAndLoad(MLContext ml, ITransformer model, IDataView data)
    {
        string path = Path.Combine(Path.GetTempPath(), $"lmhead-chain-{Guid.NewGuid():N}.zip");
        try
        {
            ml.Model.Save(model, data.Schema, path);
            return ml.Model.Load(path, out _);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static uint[] Score(MLContext ml, TransformerChain<ITransformer> model, StepRow[] rows) =>
        [.. ml.Data.CreateEnumerable<TokenRow>(model.Transform(ml.Data.LoadFromEnumerable(rows)), reuseRowObject: false).Select(r => r.NextToken)];

    [TestMethod]
    public void DecodeNextTokenGivesBackItsOptionsFittedAndLoaded()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(RandomRows(1, 1));
        var fitted = ml.Transforms.DecodeNextToken("NextToken", "Logits", Options, streamKeyColumnName: "Step").Fit(data);

        var fromFitted = fitted.ToDecodingPipeline();
        var fromLoaded = SaveAndLoad(ml, fitted, data).ToDecodingPipeline();

        Assert.AreEqual(Options, fromFitted.Options);
        Assert.AreEqual(Options, fromLoaded.Options);
        Assert.IsTrue(fromLoaded.DrawsKeyedByStep);
        CollectionAssert.AreEqual(
            Options.CreateStages().Select(s => s.GetType()).ToArray(), fromLoaded.Stages.Select(s => s.GetType()).ToArray());
    }

    [TestMethod]
    public void DecodeNextTokenDrawsWhatTheOptionsPipelineDraws()
    {
        var ml = new MLContext(seed: 0);
        var rows = RandomRows(300, 2);
        var fitted = ml.Transforms.DecodeNextToken("NextToken", "Logits", Options, streamKeyColumnName: "Step").Fit(ml.Data.LoadFromEnumerable(rows));
        var pipeline = DecodingPipeline.Create(Options);

        var scored = Score(ml, fitted, rows);
        var drawn = rows.Select(r =>
        {
            using var logits = tensor(r.Logits);
            return (uint)pipeline.NextToken(logits, SamplingRandom.ForStream(Options.Seed!.Value, (ulong)r.Step)).TokenId;
        }).ToArray();

        CollectionAssert.AreEqual(drawn, scored);
        Assert.IsGreaterThan(5, scored.Distinct().Count(), "the draws vary (not a constant argmax)");
        Assert.IsFalse(scored.Contains(3u), "the banned token is never drawn");
    }

    [TestMethod]
    public void DecodeNextTokenKeepsOnlyTheTokenColumns()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(RandomRows(1, 1));
        var schema = ml.Transforms.DecodeNextToken("NextToken", "Logits", Options).Fit(data).GetOutputSchema(data.Schema);

        CollectionAssert.AreEqual(new[] { "Logits", "Step", "NextToken", "NextTokenProbability" }, schema.Select(c => c.Name).ToArray());
    }

    [TestMethod]
    public void DecodeNextTokenNeedsTheHistoryColumnOfAPenaltyThatIsOn()
    {
        var ml = new MLContext(seed: 0);

        var error = Assert.ThrowsExactly<ArgumentException>(() =>
            ml.Transforms.DecodeNextToken("NextToken", "Logits", new DecodingOptions { RepetitionPenalty = 1.2f }));

        Assert.AreEqual("historyColumnName", error.ParamName);
        Assert.Contains("repetition_penalty is 1.2", error.Message);
    }

    [TestMethod]
    public void AChainWithPenaltiesGivesThePenaltiesWithTheirSettings()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(new[] { new PenaltyRow { Logits = new float[VocabularySize], History = [1, 2], Generated = [2] } });
        var options = new DecodingOptions { RepetitionPenalty = 1.3f, FrequencyPenalty = 0.5f, PresencePenalty = 0.25f, PenaltyWindow = 16, Seed = 5 };

        var pipeline = ml.Transforms.DecodeNextToken("NextToken", "Logits", options, historyColumnName: "History", generatedColumnName: "Generated")
            .Fit(data).ToDecodingPipeline();

        Assert.AreEqual(options, pipeline.Options);
        Assert.IsTrue(pipeline.UsesHistory);
    }

    private sealed class PenaltyRow
    {
        [VectorType(VocabularySize)]
        public float[] Logits { get; set; } = [];

        [VectorType]
        public float[] History { get; set; } = [];

        [VectorType]
        public float[] Generated { get; set; } = [];
    }

    [TestMethod]
    public void AProjectionIsRefusedNamingIt()
    {
        var ml = new MLContext(seed: 0);
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        var fitted = FullPipeline(ml, weight, bias).Fit(ml.Data.LoadFromEnumerable(Rows(1)));

        var error = Assert.ThrowsExactly<NotSupportedException>(() => fitted.ToDecodingPipeline());

        Assert.Contains("ProjectToLogits", error.Message);
    }

    [TestMethod]
    [DataRow("lmhead-head-v1.zip")]
    [DataRow("lmhead-head-v2.zip")]
    public void ModelsSavedByEarlierReleasesConvertOnceTheProjectionIsLeftOut(string fixture)
    {
        var ml = new MLContext(seed: 0);
        ml.ComponentCatalog.RegisterAssembly(typeof(LmHeadCatalog).Assembly);
        var loaded = (TransformerChain<ITransformer>)ml.Model.Load(Path.Combine(AppContext.BaseDirectory, "MachineLearning", "Fixtures", fixture), out _);

        var projection = Assert.ThrowsExactly<NotSupportedException>(() => loaded.ToDecodingPipeline());
        var pipeline = new TransformerChain<ITransformer>([.. loaded.Skip(1)]).ToDecodingPipeline();

        Assert.Contains("ProjectToLogits", projection.Message);
        Assert.AreEqual(new DecodingOptions { Temperature = Temperature, TopK = K, Seed = Seed }, pipeline.Options);
    }

    [TestMethod]
    public void AChainWithoutASamplerIsRefused()
    {
        var ml = new MLContext(seed: 0);
        var fitted = ml.Transforms.ScaleTemperature("Scaled", "Logits", 0.5f)
            .Append(ml.Transforms.NormalizeToProbabilities("Probabilities", "Scaled"))
            .Fit(ml.Data.LoadFromEnumerable(RandomRows(1, 1)));

        var error = Assert.ThrowsExactly<NotSupportedException>(() => fitted.ToDecodingPipeline());

        Assert.Contains("no SampleNextToken", error.Message);
        Assert.Contains("ScaleTemperature -> NormalizeToProbabilities", error.Message);
    }

    [TestMethod]
    public void ASamplerReadingLogitsIsRefused()
    {
        var ml = new MLContext(seed: 0);
        var fitted = ml.Transforms.KeepTopK("TopK", "Logits", 3)
            .Append(ml.Transforms.SampleNextToken("NextToken", "TopK", seed: 1))
            .Fit(ml.Data.LoadFromEnumerable(RandomRows(1, 1)));

        var error = Assert.ThrowsExactly<NotSupportedException>(() => fitted.ToDecodingPipeline());

        Assert.Contains("NormalizeToProbabilities", error.Message);
    }

    [TestMethod]
    public void AStageOffThePathIsRefusedNamingTheColumns()
    {
        var ml = new MLContext(seed: 0);
        var fitted = ml.Transforms.ScaleTemperature("Scaled", "Logits", 0.5f)
            .Append(ml.Transforms.KeepTopK("TopK", "Logits", 3))
            .Append(ml.Transforms.NormalizeToProbabilities("Probabilities", "TopK"))
            .Append(ml.Transforms.SampleNextToken("NextToken", "Probabilities", seed: 1))
            .Fit(ml.Data.LoadFromEnumerable(RandomRows(1, 1)));

        var error = Assert.ThrowsExactly<ArgumentException>(() => fitted.ToDecodingPipeline());

        Assert.AreEqual("chain", error.ParamName);
        Assert.Contains("KeepTopK reads column 'Logits'", error.Message);
        Assert.Contains("ScaleTemperature, writes 'Scaled'", error.Message);
    }

    [TestMethod]
    public void AForeignTransformIsRefusedNamingIt()
    {
        var ml = new MLContext(seed: 0);
        var fitted = ml.Transforms.CopyColumns("Copy", "Logits")
            .Append(ml.Transforms.NormalizeToProbabilities("Probabilities", "Copy"))
            .Append(ml.Transforms.SampleNextToken("NextToken", "Probabilities", seed: 1))
            .Fit(ml.Data.LoadFromEnumerable(RandomRows(1, 1)));

        var error = Assert.ThrowsExactly<NotSupportedException>(() => fitted.ToDecodingPipeline());

        Assert.Contains("ColumnCopyingTransformer", error.Message);
    }

    [TestMethod]
    public void AMissingContractNameFieldIsReportedAsSuch()
    {
        var error = Assert.ThrowsExactly<NotSupportedException>(() => SavedStageReader.ContractName(new NotACustomMapping()));

        Assert.Contains("_contractName", error.Message);
        Assert.Contains("ML.NET 5.0.1", error.Message);
    }

    [TestMethod]
    public void TheContractNameOfALoadedCustomMappingIsRead()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(RandomRows(1, 1));
        var loaded = (IEnumerable<ITransformer>)SaveAndLoad(ml, ml.Transforms.KeepTopK("TopK", "Logits", 3).Fit(data), data);

        var names = Flatten(loaded).Where(SavedStageReader.IsCustomMapping).Select(SavedStageReader.ContractName).ToArray();

        CollectionAssert.AreEqual(new[] { "LmHead.ParameterKey.v1", "LmHead.KeepTopK.v1" }, names);
    }

    private static IEnumerable<ITransformer> Flatten(IEnumerable<ITransformer> chain) =>
        chain.SelectMany(t => t is IEnumerable<ITransformer> nested ? Flatten(nested) : [t]);

    private sealed class NotACustomMapping : ITransformer
    {
        public bool IsRowToRowMapper => false;

        public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => throw new NotSupportedException();

        public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => throw new NotSupportedException();

        public void Save(ModelSaveContext ctx) => throw new NotSupportedException();

        public IDataView Transform(IDataView input) => throw new NotSupportedException();
    }
}
