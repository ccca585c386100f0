using System.IO.Compression;
using BenchmarkDotNet.Attributes;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.MachineLearning;
using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks;

/// <summary>One row of the ML.NET benchmarks: a GPT-2-sized hidden state and a request id that keys the sampler.</summary>
public sealed class HiddenStateRow
{
    /// <summary>The hidden state (d = 768).</summary>
    [VectorType(MlNetShapes.Hidden)]
    public float[] Hidden { get; set; } = [];

    /// <summary>Keys the sampler's random stream, so a saved model samples the same tokens.</summary>
    public long RequestId { get; set; }
}

/// <summary>The GPT-2-small head shape and the decoding settings of the ML.NET benchmarks.</summary>
internal static class MlNetShapes
{
    public const int Vocabulary = 50257;
    public const int Hidden = 768;
    public const float Temperature = 0.7f;
    public const int TopK = 50;
    public const ulong Seed = 42;

    public static Tensor Weight() => randn(Vocabulary, Hidden, generator: new Generator(3)).mul_(0.02);

    public static IEstimator<ITransformer> Pipeline(MLContext ml, Tensor weight) =>
        ml.Transforms.ProjectToLogits("Logits", "Hidden", weight)
            .Append(ml.Transforms.ScaleTemperature("ScaledLogits", "Logits", Temperature))
            .Append(ml.Transforms.KeepTopK("TopKLogits", "ScaledLogits", TopK))
            .Append(ml.Transforms.NormalizeToProbabilities("Probabilities", "TopKLogits"))
            .Append(ml.Transforms.SampleNextToken("NextToken", "Probabilities", Seed, streamKeyColumnName: "RequestId"));

    public static HiddenStateRow[] Rows(int count)
    {
        var random = new Random(5);
        return [.. Enumerable.Range(0, count).Select(i => new HiddenStateRow
        {
            Hidden = [.. Enumerable.Range(0, Hidden).Select(_ => (float)((random.NextDouble() * 2) - 1))],
            RequestId = i,
        })];
    }
}

/// <summary>
/// Scoring 10,000 hidden states (d = 768, V = 50257; temperature 0.7, top-k 50, softmax, sampled token) with an ML.NET
/// cursor, against calling the tensor stages directly on the same rows, and with the same model after a save and load.
/// </summary>
[InProcessLongOperationJob]
public class MlNetScoringBenchmarks
{
    private const int RowCount = 10_000;

    private Tensor _weight = null!;
    private HiddenStateRow[] _rows = null!;
    private MLContext _ml = null!;
    private IDataView _data = null!;
    private ITransformer _model = null!;
    private ITransformer _loaded = null!;
    private LogitsProjector _projector = null!;
    private DecodingPipeline _pipeline = null!;
    private string _path = null!;

    [GlobalSetup]
    public void Setup()
    {
        _weight = MlNetShapes.Weight();
        _rows = MlNetShapes.Rows(RowCount);
        _ml = new MLContext(seed: 0);
        _data = _ml.Data.LoadFromEnumerable(_rows);
        _model = MlNetShapes.Pipeline(_ml, _weight).Fit(_data);
        _path = Path.Combine(Path.GetTempPath(), $"lmhead-bench-{Environment.ProcessId}.zip");
        _ml.Model.Save(_model, _data.Schema, _path);
        _loaded = new MLContext(seed: 0).Model.Load(_path, out _);
        _projector = new LogitsProjector(_weight);
        _pipeline = new DecodingPipelineBuilder().UseTemperature(MlNetShapes.Temperature).UseTopK(MlNetShapes.TopK).UseSeed(MlNetShapes.Seed).Build();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        File.Delete(_path);
        _projector.Dispose();
        _weight.Dispose();
    }

    /// <summary>The baseline: per row, a tensor of the hidden state, <see cref="LogitsProjector.Project"/>, then <see cref="DecodingPipeline.NextToken"/>.</summary>
    [Benchmark(Baseline = true)]
    public long TensorPipelineDirect()
    {
        long sum = 0;
        foreach (var row in _rows)
        {
            using var scope = NewDisposeScope();
            using var logits = _projector.Project(tensor(row.Hidden));
            sum += _pipeline.NextToken(logits).TokenId;
        }

        return sum;
    }

    /// <summary>A cursor over the fitted ML.NET pipeline, reading the sampled token of every row.</summary>
    [Benchmark]
    public long MlNetCursor() => ReadTokens(_model);

    /// <summary>The same cursor over the model after <c>Model.Save</c> and <c>Model.Load</c>.</summary>
    [Benchmark]
    public long MlNetCursorAfterLoad() => ReadTokens(_loaded);

    private long ReadTokens(ITransformer model)
    {
        var output = model.Transform(_data);
        using var cursor = output.GetRowCursor([output.Schema["NextToken"]]);
        var getter = cursor.GetGetter<uint>(output.Schema["NextToken"]);
        long sum = 0;
        uint token = 0;
        while (cursor.MoveNext())
        {
            getter(ref token);
            sum += token;
        }

        return sum;
    }
}

/// <summary>
/// Loading a saved 768 x 50257 head (154 MB of weights) with <c>mlContext.Model.Load</c>, against reading the file, and
/// against the part of any load that ML.NET itself does before a transform sees a byte: inflating every zip entry to a
/// temporary file (ML.NET's <c>RepositoryReader</c>). Format 1 stored the weights in a <c>MapValue</c> table.
/// </summary>
[InProcessLongOperationJob]
public class MlNetLoadBenchmarks
{
    private string _version2 = null!;
    private string _version1 = null!;

    /// <summary>
    /// Whether each iteration starts with the files out of the page cache (as in a fresh process on a machine that has
    /// not read them recently): <c>sync</c>, then 3 written to <c>/proc/sys/vm/drop_caches</c>, which needs root on Linux.
    /// Without it the files are read from memory.
    /// </summary>
    [Params(false, true)]
    public bool DropPageCache { get; set; }

    [IterationSetup]
    public void DropCaches()
    {
        if (!DropPageCache)
        {
            return;
        }

        using (var sync = System.Diagnostics.Process.Start("sync"))
        {
            sync.WaitForExit();
        }

        try
        {
            File.WriteAllText("/proc/sys/vm/drop_caches", "3");
        }
        catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
        {
            throw new InvalidOperationException(
                "DropPageCache = true needs permission to write /proc/sys/vm/drop_caches (root on Linux); run the warm cases alone with --filter '*MlNetLoad*' --anyCategories or as root.", ex);
        }
    }

    [GlobalSetup]
    public void Setup()
    {
        using var weight = MlNetShapes.Weight();
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(MlNetShapes.Rows(1));
        var model = ml.Transforms.ProjectToLogits("Logits", "Hidden", weight).Fit(data);
        _version2 = Path.Combine(Path.GetTempPath(), $"lmhead-load-v2-{Environment.ProcessId}.zip");
        _version1 = Path.Combine(Path.GetTempPath(), $"lmhead-load-v1-{Environment.ProcessId}.zip");
        ml.Model.Save(model, data.Schema, _version2);
        ml.Model.Save(SavedForm.Version1(model), data.Schema, _version1);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        File.Delete(_version1);
        File.Delete(_version2);
    }

    /// <summary>The reference: <see cref="File.ReadAllBytes"/> of the saved model.</summary>
    [Benchmark(Baseline = true)]
    public int ReadFile() => File.ReadAllBytes(_version2).Length;

    /// <summary>What ML.NET does for every entry it opens: inflate it to a temporary file and read it back.</summary>
    [Benchmark]
    public long InflateEntriesToTemporaryFiles()
    {
        string folder = Directory.CreateTempSubdirectory("lmhead-entries-").FullName;
        long bytes = 0;
        using (var archive = ZipFile.OpenRead(_version2))
        {
            int index = 0;
            foreach (var entry in archive.Entries)
            {
                string path = Path.Combine(folder, $"{index++}.bin");
                entry.ExtractToFile(path);
                bytes += File.ReadAllBytes(path).Length;
            }
        }

        Directory.Delete(folder, recursive: true);
        return bytes;
    }

    /// <summary><c>mlContext.Model.Load</c> of the current format, then scoring one row (which hands the weights to the projection).</summary>
    [Benchmark]
    public float LoadAndScoreFirstRow() => FirstLogit(_version2);

    /// <summary><c>mlContext.Model.Load</c> of format 1, then scoring one row.</summary>
    [Benchmark]
    public float LoadAndScoreFirstRowVersion1() => FirstLogit(_version1);

    /// <summary><c>mlContext.Model.Load</c> of the current format alone.</summary>
    [Benchmark]
    public object Load() => new MLContext(seed: 0).Model.Load(_version2, out _);

    private static float FirstLogit(string path)
    {
        var ml = new MLContext(seed: 0);
        var model = ml.Model.Load(path, out _);
        var rows = ml.Data.LoadFromEnumerable(MlNetShapes.Rows(1));
        float first = model.Transform(rows).GetColumn<float[]>("Logits").First()[0];
        GC.KeepAlive(model);
        return first;
    }
}
