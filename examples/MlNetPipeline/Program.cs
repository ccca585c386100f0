// Builds the LM head as an ML.NET pipeline over a few random hidden states, prints each row's top candidates and
// sampled token, saves the model, loads it in a fresh MLContext and checks that the loaded model gives the same result.
using LmHead.Extensions.Tokenization;
using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

const int HiddenSize = 64;
int vocabularySize = Gpt2Tokenizer.VocabularySize;

// A random head: a real GPT-2 head is 50257 x 768; d = 64 keeps the example fast.
manual_seed(0);
using var weight = randn(vocabularySize, HiddenSize).mul(0.5f);
var random = new Random(1);
var rows = Enumerable.Range(0, 4).Select(i => new Input
{
    RequestId = 100 + i,
    Hidden = Enumerable.Range(0, HiddenSize).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray(),
}).ToArray();

var ml = new MLContext(seed: 0);
var data = ml.Data.LoadFromEnumerable(rows);
var pipeline = ml.Transforms.ProjectToLogits("Logits", "Hidden", weight)
    .Append(ml.Transforms.ScaleTemperature("ScaledLogits", "Logits", 0.7f))
    .Append(ml.Transforms.KeepTopK("TopKLogits", "ScaledLogits", 50))
    .Append(ml.Transforms.NormalizeToProbabilities("Probabilities", "TopKLogits"))
    // A stream-key column (not the row id) makes the sampler's draws reproducible after saving and loading.
    .Append(ml.Transforms.SampleNextToken("NextToken", "Probabilities", seed: 42, streamKeyColumnName: "RequestId"));
var model = pipeline.Fit(data);
var before = ml.Data.CreateEnumerable<Output>(model.Transform(data), reuseRowObject: false).ToList();
Print("Fitted pipeline", rows, before);

string path = Path.Combine(Path.GetTempPath(), $"lmhead-mlnet-{Environment.ProcessId}.zip");
ml.Model.Save(model, data.Schema, path);
Console.WriteLine($"Saved to {path} ({new FileInfo(path).Length / 1024.0 / 1024.0:F1} MiB)");

var fresh = new MLContext(seed: 7);
var loaded = fresh.Model.Load(path, out _);
var after = fresh.Data.CreateEnumerable<Output>(loaded.Transform(fresh.Data.LoadFromEnumerable(rows)), reuseRowObject: false).ToList();
Print("Loaded model", rows, after);
File.Delete(path);

double maxDifference = before.Zip(after).Max(p => p.First.Logits.Zip(p.Second.Logits).Max(l => Math.Abs(l.First - l.Second)));
// Logits agree to float precision, not bit for bit: the matrix product may round differently for another allocation.
bool same = maxDifference < 1e-5 && before.Zip(after).All(p => p.First.NextToken == p.Second.NextToken);
Console.WriteLine(same
    ? $"The loaded model gives the same tokens, and logits within {maxDifference:G2}."
    : $"MISMATCH between the fitted and the loaded model (largest logit difference {maxDifference:G2}).");
return same ? 0 : 1;

static void Print(string title, Input[] rows, List<Output> outputs)
{
    var tokenizer = Gpt2Tokenizer.Default;
    Console.WriteLine($"== {title}");
    foreach (var (row, output) in rows.Zip(outputs))
    {
        var top = output.Probabilities.Select((p, id) => (p, id)).OrderByDescending(c => c.p).Take(5)
            .Select(c => $"{Show(tokenizer.Decode([c.id]))} {c.p:P1}");
        Console.WriteLine($"request {row.RequestId}: sampled {Show(tokenizer.Decode([(int)output.NextToken]))} (id {output.NextToken}, p = {output.NextTokenProbability:P1}); top: {string.Join(", ", top)}");
    }
}

static string Show(string? text) => $"\"{text?.Replace("\n", "\\n", StringComparison.Ordinal)}\"";

internal sealed class Input
{
    public long RequestId { get; set; }

    [VectorType(64)]
    public float[] Hidden { get; set; } = [];
}

internal sealed class Output
{
    public float[] Logits { get; set; } = [];

    public float[] Probabilities { get; set; } = [];

    public uint NextToken { get; set; }

    public float NextTokenProbability { get; set; }
}
