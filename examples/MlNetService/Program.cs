// An ML.NET decoding chain as the Semantic Kernel service: compose it with mlContext, save it to a zip, load it back,
// serve it through a kernel prompt, and check that the text is what the chain itself picks when the model's logits are
// scored through it row by row (Step = t).
// Usage: dotnet run --project examples/MlNetService [model-folder]
using LmHead.Extensions.Examples;
using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.SemanticKernel.Settings;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.SemanticKernel;
using static TorchSharp.torch;

const string Prompt = "ROMEO:";
const int MaxNewTokens = 40;
string modelFolder = ExampleModel.Resolve(args);
using var pretrained = Gpt2Pretrained.Load(modelFolder);
int vocabulary = pretrained.Config.VocabularySize;

// 1. Compose the decoding chain with mlContext, on a logits column, and save it.
var ml = new MLContext(seed: 0);
var definition = SchemaDefinition.Create(typeof(StepRow));
definition[nameof(StepRow.Logits)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, vocabulary);
var empty = ml.Data.LoadFromEnumerable(Array.Empty<StepRow>(), definition);
var chain = ml.Transforms.ScaleTemperature("Scaled", "Logits", 0.8f)
    .Append(ml.Transforms.KeepTopK("TopK", "Scaled", 40))
    .Append(ml.Transforms.NormalizeToProbabilities("Probabilities", "TopK"))
    .Append(ml.Transforms.SampleNextToken("NextToken", "Probabilities", seed: 42, streamKeyColumnName: "Step"))
    .Fit(empty);
string zip = Path.Combine(Path.GetTempPath(), $"lmhead-decoding-chain-{Environment.ProcessId}.zip");
ml.Model.Save(chain, empty.Schema, zip);
Console.WriteLine($"Saved the chain to {Path.GetFileName(zip)} ({new FileInfo(zip).Length:N0} bytes).");

// 2. Load it (as another process would) and serve it: the kernel's service decodes with exactly the chain's stages.
var loaded = new MLContext(seed: 0).LoadLmHeadModel(zip, out _); // Model.Load works too; this one names a damaged entry
File.Delete(zip);
var pipeline = loaded.ToDecodingPipeline();
Console.WriteLine($"Loaded chain as a pipeline: {string.Join(" -> ", pipeline.Stages.Select(s => s.GetType().Name))}, seed {pipeline.Seed}, draws keyed by step: {pipeline.DrawsKeyedByStep}");
Kernel kernel = Kernel.CreateBuilder().AddLmHeadTextGeneration(modelFolder, pipeline, modelId: "mlnet-chain").Build();
var settings = new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = MaxNewTokens });
string served = (await kernel.InvokePromptAsync(Prompt, new KernelArguments(settings))).ToString();
Console.WriteLine("--- served through Kernel.InvokePromptAsync ---");
Console.WriteLine(Prompt + served);

// 3. The same loaded chain used directly: the model's logits, one KV-cached step at a time, scored as rows.
var model = pretrained.Model;
int[] input = [.. pretrained.Tokenizer.EncodeToIds(Prompt)];
var chosen = new List<int>();
using (var cache = model.CreateKvCache())
using (var projector = model.GetOutputEmbeddings())
{
    for (int t = 0; t < MaxNewTokens; t++)
    {
        using var scope = NewDisposeScope();
        var hidden = model.ComputeHiddenStates(tensor(input.Select(i => (long)i).ToArray()), cache);
        var row = new StepRow { Logits = projector.Project(hidden[-1]).data<float>().ToArray(), Step = t };
        var scored = loaded.Transform(ml.Data.LoadFromEnumerable([row], definition));
        int id = (int)ml.Data.CreateEnumerable<TokenRow>(scored, reuseRowObject: false).Single().NextToken;
        if (id == model.Config.EosTokenId)
        {
            break;
        }

        chosen.Add(id);
        input = [id];
    }
}

string direct = pretrained.Tokenizer.Decode(chosen);
Console.WriteLine("--- the chain scored row by row in ML.NET ---");
Console.WriteLine(Prompt + direct);
Console.WriteLine($"Same text: {served == direct}");
return served == direct ? 0 : 1;

internal sealed class StepRow
{
    public float[] Logits { get; set; } = [];

    public long Step { get; set; }
}

internal sealed class TokenRow
{
    public uint NextToken { get; set; }
}
