// Builds the LM head as an ML.NET pipeline over a few random hidden states, prints each row's top candidates and
// sampled token, saves the model, and checks that loading it (in a fresh MLContext, and in a separate process) gives
// the same result. Exit code 0 when everything matches.
using System.Diagnostics;
using System.Text.Json;
using LmHead.Extensions.Tokenization;
using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

if (args is ["score", var savedModel, var resultsFile])
{
    // Child process: load the saved model with nothing else in memory and score the same rows.
    var context = new MLContext(seed: 99);
    var model = context.Model.Load(savedModel, out _);
    File.WriteAllText(resultsFile, JsonSerializer.Serialize(Score(context, model, Example.Rows())));
    return 0;
}

const int HiddenSize = Example.HiddenSize;
int vocabularySize = Gpt2Tokenizer.VocabularySize;

// A random head: a real GPT-2 head is 50257 x 768; d = 64 keeps the example fast.
manual_seed(0);
using var weight = randn(vocabularySize, HiddenSize).mul(0.5f);
var rows = Example.Rows();

var ml = new MLContext(seed: 0);
var data = ml.Data.LoadFromEnumerable(rows);
var pipeline = ml.Transforms.ProjectToLogits("Logits", "Hidden", weight)
    .Append(ml.Transforms.ScaleTemperature("ScaledLogits", "Logits", 0.7f))
    .Append(ml.Transforms.KeepTopK("TopKLogits", "ScaledLogits", 50))
    .Append(ml.Transforms.NormalizeToProbabilities("Probabilities", "TopKLogits"))
    // A stream-key column (not the row id) makes the sampler's draws reproducible after saving and loading.
    .Append(ml.Transforms.SampleNextToken("NextToken", "Probabilities", seed: 42, streamKeyColumnName: "RequestId"));
var fitted = pipeline.Fit(data);
var before = Score(ml, fitted, rows);
Print("Fitted pipeline", rows, before);

string path = Path.Combine(Path.GetTempPath(), $"lmhead-mlnet-{Environment.ProcessId}.zip");
var clock = Stopwatch.StartNew();
ml.Model.Save(fitted, data.Schema, path);
Console.WriteLine($"Saved to {path} ({new FileInfo(path).Length / 1024.0 / 1024.0:F1} MiB) in {clock.ElapsedMilliseconds} ms");

var fresh = new MLContext(seed: 7);
clock.Restart();
var loaded = fresh.Model.Load(path, out _);
Console.WriteLine($"Loaded in {clock.ElapsedMilliseconds} ms");
var after = Score(fresh, loaded, rows);
Print("Loaded model (fresh MLContext)", rows, after);

string resultsPath = path + ".json";
var child = RunChild(path, resultsPath);
var separate = JsonSerializer.Deserialize<List<Output>>(File.ReadAllText(resultsPath))!;
File.Delete(path);
File.Delete(resultsPath);

bool same = Compare("fresh MLContext", before, after) & Compare("separate process", before, separate) & child == 0;
return same ? 0 : 1;

static List<Output> Score(MLContext ml, ITransformer model, Input[] rows) =>
    ml.Data.CreateEnumerable<Output>(model.Transform(ml.Data.LoadFromEnumerable(rows)), reuseRowObject: false).ToList();

static bool Compare(string where, List<Output> before, List<Output> after)
{
    // Logits agree to float precision, not bit for bit: the matrix product may round differently for another allocation.
    double difference = before.Zip(after).Max(p => p.First.Logits.Zip(p.Second.Logits).Max(l => Math.Abs(l.First - l.Second)));
    bool same = before.Count == after.Count && difference < 1e-5 && before.Zip(after).All(p => p.First.NextToken == p.Second.NextToken);
    Console.WriteLine(same
        ? $"{where}: same tokens, logits within {difference:G2}."
        : $"{where}: MISMATCH (largest logit difference {difference:G2}).");
    return same;
}

static int RunChild(string modelPath, string resultsPath)
{
    // Run this same program again (through the dotnet host when it was started as "dotnet MlNetPipeline.dll").
    var start = new ProcessStartInfo(Environment.ProcessPath!);
    if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
    {
        start.ArgumentList.Add(typeof(Example).Assembly.Location);
    }

    foreach (var argument in new[] { "score", modelPath, resultsPath })
    {
        start.ArgumentList.Add(argument);
    }

    using var process = Process.Start(start)!;
    process.WaitForExit();
    Console.WriteLine($"Separate process loaded and scored the model (exit code {process.ExitCode}).");
    return process.ExitCode;
}

static void Print(string title, Input[] rows, List<Output> outputs)
{
    var tokenizer = Gpt2Tokenizer.Default;
    Console.WriteLine($"== {title}");
    foreach (var (row, output) in rows.Zip(outputs))
    {
        var top = output.Probabilities.Select((p, id) => (p, id)).OrderByDescending(c => c.p).Take(5)
            .Select(c => $"{Show(tokenizer.Decode([c.id]))} {c.p:P1}");
        Console.WriteLine(
            $"request {row.RequestId}: sampled {Show(tokenizer.Decode([(int)output.NextToken]))} (id {output.NextToken}, p = {output.NextTokenProbability:P1}); top: {string.Join(", ", top)}");
    }
}

static string Show(string? text) => $"\"{text?.Replace("\n", "\\n", StringComparison.Ordinal)}\"";

internal static class Example
{
    public const int HiddenSize = 64;

    public static Input[] Rows()
    {
        var random = new Random(1);
        return Enumerable.Range(0, 4).Select(i => new Input
        {
            RequestId = 100 + i,
            Hidden = Enumerable.Range(0, HiddenSize).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray(),
        }).ToArray();
    }
}

internal sealed class Input
{
    public long RequestId { get; set; }

    [VectorType(Example.HiddenSize)]
    public float[] Hidden { get; set; } = [];
}

internal sealed class Output
{
    public float[] Logits { get; set; } = [];

    public float[] Probabilities { get; set; } = [];

    public uint NextToken { get; set; }

    public float NextTokenProbability { get; set; }
}
