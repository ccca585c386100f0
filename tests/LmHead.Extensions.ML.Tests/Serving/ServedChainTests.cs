using System.Diagnostics;
using LmHead.Extensions.Generation;
using LmHead.Extensions.MachineLearning;
using LmHead.Extensions.Models;
using LmHead.Extensions.SemanticKernel.Settings;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.SemanticKernel;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Serving;

/// <summary>
/// An mlContext chain served as the Semantic Kernel text-generation service: composed, saved to a zip, loaded (here and
/// in a fresh process) and served through a kernel prompt, it draws the tokens the ML.NET chain draws when the model's
/// logits are scored row by row with Step = t.
/// </summary>
[TestClass]
public sealed class ServedChainTests
{
    private const string Prompt = "Hello there";
    private const int MaxNewTokens = 12;
    private const int Vocabulary = 50257;

    public TestContext TestContext { get; set; } = null!;

    private sealed class StepRow
    {
        [VectorType(Vocabulary)]
        public float[] Logits { get; set; } = [];

        public long Step { get; set; }
    }

    private sealed class TokenRow
    {
        public uint NextToken { get; set; }
    }

    private static TransformerChain<NextTokenSamplingTransformer> Compose(MLContext ml, ulong seed) =>
        ml.Transforms.ScaleTemperature("Scaled", "Logits", 1.3f)
            .Append(ml.Transforms.KeepTopK("TopK", "Scaled", 7))
            .Append(ml.Transforms.NormalizeToProbabilities("Probabilities", "TopK"))
            .Append(ml.Transforms.SampleNextToken("NextToken", "Probabilities", seed, streamKeyColumnName: "Step"))
            .Fit(ml.Data.LoadFromEnumerable(Array.Empty<StepRow>()));

    private static string SaveToZip(MLContext ml, ITransformer chain)
    {
        string path = Path.Combine(Path.GetTempPath(), $"lmhead-served-{Guid.NewGuid():N}.zip");
        ml.Model.Save(chain, ml.Data.LoadFromEnumerable(Array.Empty<StepRow>()).Schema, path);
        return path;
    }

    private static async Task<string> ServeAsync(ITransformer chain)
    {
        var kernel = Kernel.CreateBuilder().AddLmHeadTextGeneration(TinyServedModel.Folder, chain.ToDecodingPipeline(), modelId: "served-chain").Build();
        var settings = new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = MaxNewTokens });
        return (await kernel.InvokePromptAsync(Prompt, new KernelArguments(settings))).ToString();
    }

    /// <summary>
    /// The tokens the ML.NET chain picks for the tiny model: the model's logits one KV-cached step at a time, each scored
    /// as one row through <paramref name="chain"/> with Step = t, the chosen token fed back.
    /// </summary>
    private static List<int> ScoreStepByStep(MLContext ml, ITransformer chain)
    {
        using var pretrained = Gpt2Pretrained.Load(TinyServedModel.Folder);
        var model = pretrained.Model;
        int[] input = [.. pretrained.Tokenizer.EncodeToIds(Prompt)];
        var chosen = new List<int>();
        using var cache = model.CreateKvCache();
        using var projector = model.GetOutputEmbeddings();
        for (int t = 0; t < MaxNewTokens; t++)
        {
            using var scope = NewDisposeScope();
            var hidden = model.ComputeHiddenStates(tensor(input.Select(i => (long)i).ToArray()), cache);
            float[] logits = projector.Project(hidden[-1]).to_type(ScalarType.Float32).data<float>().ToArray();
            var row = ml.Data.LoadFromEnumerable([new StepRow { Logits = logits, Step = t }]);
            int id = (int)ml.Data.CreateEnumerable<TokenRow>(chain.Transform(row), reuseRowObject: false).Single().NextToken;
            if (id == model.Config.EosTokenId)
            {
                break;
            }

            chosen.Add(id);
            input = [id];
        }

        return chosen;
    }

    [TestMethod]
    public async Task AChainLoadedFromAZipAndServedDrawsWhatTheChainDrawsRowByRow()
    {
        var ml = new MLContext(seed: 0);
        var fitted = Compose(ml, seed: 42);
        string path = SaveToZip(ml, fitted);
        var loaded = ml.Model.Load(path, out _);
        File.Delete(path);

        string servedLoaded = await ServeAsync(loaded);
        string servedFitted = await ServeAsync(fitted);
        string otherSeed = await ServeAsync(Compose(ml, seed: 43));
        var byLoadedChain = ScoreStepByStep(ml, loaded);
        var byFittedChain = ScoreStepByStep(ml, fitted);

        using var pretrained = Gpt2Pretrained.Load(TinyServedModel.Folder);
        Assert.IsGreaterThan(3, byLoadedChain.Count, "the chain drew several tokens before any end-of-text");
        CollectionAssert.AreEqual(byFittedChain, byLoadedChain, "the loaded chain scores as the fitted one");
        Assert.AreEqual(pretrained.Tokenizer.Decode(byLoadedChain), servedLoaded, "the served chain draws what the chain draws row by row");
        Assert.AreEqual(servedFitted, servedLoaded, "the fitted chain served and the loaded chain served write the same text");
        Assert.AreNotEqual(servedLoaded, otherSeed, "another seed draws other tokens (12 draws at T = 1.3 over 7 tokens)");
    }

    [TestMethod]
    public async Task AChainLoadedInAFreshProcessServesTheSameTextThroughAKernelPrompt()
    {
        var ml = new MLContext(seed: 0);
        var fitted = Compose(ml, seed: 42);
        string path = SaveToZip(ml, fitted);
        string resultPath = Path.Combine(Path.GetTempPath(), $"lmhead-served-{Guid.NewGuid():N}.txt");
        try
        {
            var start = new ProcessStartInfo("dotnet")
            {
                ArgumentList =
                {
                    Path.Combine(AppContext.BaseDirectory, "LmHead.Extensions.ML.FreshProcess.dll"), "serve", path, TinyServedModel.Folder, Prompt,
                    MaxNewTokens.ToString(System.Globalization.CultureInfo.InvariantCulture), resultPath,
                },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var child = Process.Start(start)!;
            string output = await child.StandardOutput.ReadToEndAsync(TestContext.CancellationToken) + await child.StandardError.ReadToEndAsync(TestContext.CancellationToken);
            Assert.IsTrue(child.WaitForExit(TimeSpan.FromMinutes(2)), "the child process did not finish");
            Assert.AreEqual(0, child.ExitCode, $"child process failed: {output}");

            Assert.AreEqual(await ServeAsync(fitted), await File.ReadAllTextAsync(resultPath, TestContext.CancellationToken));
        }
        finally
        {
            File.Delete(path);
            File.Delete(resultPath);
        }
    }
}
