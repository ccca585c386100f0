using System.Text.Json;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.Tests.Models;
using LmHead.Extensions.Tokenization;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Reliability;

/// <summary>
/// The bad-input matrix of docs/reliability.md for the core package: every public entry point with null, empty,
/// wrong-shape, wrong-dtype, NaN/infinite, out-of-range, over-long and unknown-token inputs ends in the documented
/// exception type with a message containing the documented text. The test writes the table it checked to its output.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class BadInputMatrixTests
{
    public TestContext TestContext { get; set; } = null!;

    private sealed record Row(string EntryPoint, string Input, Type? Expected, string Fragment, Func<Task> Act);

    private static Row R(string entry, string input, Type? expected, string fragment, Action act) =>
        new(entry, input, expected, fragment, () => { act(); return Task.CompletedTask; });

    private static Row RA(string entry, string input, Type? expected, string fragment, Func<Task> act) => new(entry, input, expected, fragment, act);

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public async Task EveryEntryPointRejectsBadInputWithTheDocumentedException()
    {
        using var model = TinyGpt2.CreateRandom(TinyGpt2.Config(), seed: 1);
        using var gpt2Vocabulary = TinyGpt2.CreateRandom(TinyGpt2.Config(vocabularySize: 50257), seed: 2);
        var noBos = TinyGpt2.Config(vocabularySize: 50257) with { BosTokenId = null, EosTokenId = null };
        using var noBosModel = new Gpt2Model(noBos);
        var generator = new TextGenerator(gpt2Vocabulary, Gpt2Tokenizer.Default);
        var smallVocabularyGenerator = new TextGenerator(model, Gpt2Tokenizer.Default);
        string folder = TinyGpt2.CreateFolder(TinyGpt2.Config(), seed: 3);
        using var rank3 = zeros(2, 2, 2);
        using var ints = ones(5, ScalarType.Int64);
        using var empty = zeros(0);
        using var nan = tensor(new[] { 0f, float.NaN, 1f });
        using var posInf = tensor(new[] { 0f, float.PositiveInfinity, 1f });
        using var allNegInf = full(4, float.NegativeInfinity);
        using var row = tensor(new[] { 0.5f, 1f, -1f, 2f });
        using var weight = randn(300, 32);
        using var hidden = randn(32);
        using var nearMax = tensor(new[] { float.MaxValue, -float.MaxValue, 0f, float.MaxValue * 0.5f });
        using var paddedRow = tensor(Enumerable.Range(0, 50304).Select(i => i == 50300 ? 1f : 0f).ToArray());
        using var intHidden = ones(TinyGpt2.Config(vocabularySize: 50257).HiddenSize, ScalarType.Int64);
        using var ids = tensor(new long[] { 1, 2, 3 });
        using var floatIds = tensor(new[] { 1f, 2f });
        using var outOfVocabulary = tensor(new long[] { 1, 300 });
        using var negativeId = tensor(new long[] { -1 });
        using var tooLong = zeros(65, ScalarType.Int64);
        using var emptyIds = zeros(0, ScalarType.Int64);
        using var badMask = ones(1, 5, ScalarType.Int64);
        string longPrompt = string.Concat(Enumerable.Repeat("hello ", 80));

        ILogitsStage[] stages =
        [
            new TemperatureScaler(0.7f), new TopKFilter(3), new TopPFilter(0.9f), new MinPFilter(0.1f),
            new LogitBias(new Dictionary<int, float> { [1] = 1f }), new RepetitionPenalty(1.2f), new FrequencyPresencePenalty(0.5f, 0.5f),
        ];
        var rows = new List<Row>();
        foreach (var stage in stages)
        {
            string name = stage.GetType().Name + ".Apply";
            rows.Add(R(name, "null", typeof(ArgumentNullException), "logits", () => stage.Apply(null!)));
            rows.Add(R(name, "rank 3", typeof(ArgumentException), "[V] or [B, V]", () => stage.Apply(rank3).Dispose()));
            rows.Add(R(name, "Int64 logits", typeof(ArgumentException), "floating-point", () => stage.Apply(ints).Dispose()));
            rows.Add(R(name, "empty [0]", typeof(ArgumentException), "empty vocabulary", () => stage.Apply(empty).Dispose()));
            if (stage is TemperatureScaler or LogitBias or ITokenHistoryStage)
            {
                // Element-wise stages follow IEEE arithmetic and pass NaN/+∞ through (no extra pass over V); the ranking
                // stages, SoftmaxNormalizer, the sampler and DecodingPipeline reject them, so a decision never uses them.
                rows.Add(R(name, "NaN / +∞ logit", null, "", () =>
                {
                    using var output = stage.Apply(nan);
                    Assert.IsTrue(output.isnan().any().item<bool>(), "NaN must stay visible, not be replaced");
                }));
            }
            else
            {
                rows.Add(R(name, "NaN logit", typeof(ArgumentException), "NaN", () => stage.Apply(nan).Dispose()));
                rows.Add(R(name, "+∞ logit", typeof(ArgumentException), "+infinity", () => stage.Apply(posInf).Dispose()));
            }
        }

        rows.AddRange(
        [
            R("TemperatureScaler(0).Apply", "NaN logit", typeof(ArgumentException), "is NaN", () => new TemperatureScaler(0f).Apply(nan).Dispose()),
            R("TemperatureScaler(0).Apply", "+∞ logit", typeof(ArgumentException), "+infinity", () => new TemperatureScaler(0f).Apply(posInf).Dispose()),
            R("TemperatureScaler(1e-20).Apply", "logits near float.MaxValue", null, "", () =>
            {
                using var scaled = new TemperatureScaler(1e-20f).Apply(nearMax);
                Assert.IsFalse(scaled.isnan().any().item<bool>() || scaled.isposinf().any().item<bool>(), "scaled as (x - max) / T: no NaN, no +infinity");
            }),
            R("TemperatureScaler(t)", "NaN, -1, +∞", typeof(ArgumentOutOfRangeException), "temperature", () => _ = new TemperatureScaler(float.NaN)),
            R("TopKFilter(k)", "0", typeof(ArgumentOutOfRangeException), "at least 1", () => _ = new TopKFilter(0)),
            R("TopPFilter(p)", "0 or 1.5 or NaN", typeof(ArgumentOutOfRangeException), "(0, 1]", () => _ = new TopPFilter(1.5f)),
            R("TopPFilter(p, minTokensToKeep)", "0", typeof(ArgumentOutOfRangeException), "minTokensToKeep", () => _ = new TopPFilter(0.5f, 0)),
            R("MinPFilter(minP)", "-0.1 or NaN", typeof(ArgumentOutOfRangeException), "[0, 1]", () => _ = new MinPFilter(float.NaN)),
            R("RepetitionPenalty(penalty)", "0 or NaN", typeof(ArgumentOutOfRangeException), "> 0", () => _ = new RepetitionPenalty(0f)),
            R("FrequencyPresencePenalty(f, p)", "NaN", typeof(ArgumentOutOfRangeException), "finite", () => _ = new FrequencyPresencePenalty(float.NaN, 0f)),
            R("LogitBias(bias)", "null", typeof(ArgumentNullException), "bias", () => _ = new LogitBias(null!)),
            R("LogitBias(bias)", "negative token id", typeof(ArgumentOutOfRangeException), "negative", () => _ = new LogitBias(new Dictionary<int, float> { [-1] = 1f })),
            R("LogitBias(bias)", "NaN or +∞ value", typeof(ArgumentOutOfRangeException), "finite", () => _ = new LogitBias(new Dictionary<int, float> { [1] = float.NaN })),
            R("LogitBias.Apply", "token id ≥ V", typeof(ArgumentException), "vocabulary", () => new LogitBias(new Dictionary<int, float> { [10] = 1f }).Apply(row).Dispose()),
            R("RepetitionPenalty.Apply(logits, history)", "history token ≥ V", typeof(ArgumentException), "outside the vocabulary",
                () => new RepetitionPenalty(1.2f).Apply(row, new TokenHistory([7], [])).Dispose()),
            R("FrequencyPresencePenalty.Apply(logits, history)", "history token ≥ V (prompt)", typeof(ArgumentException), "history holds token id 7 (prompt token 0), outside the vocabulary",
                () => new FrequencyPresencePenalty(0.5f, 0.5f).Apply(row, new TokenHistory([7], [])).Dispose()),
            R("RepetitionPenalty.Apply(logits, history)", "negative history token", typeof(ArgumentException), "history holds token id -1 (generated token 0)",
                () => new RepetitionPenalty(1.2f).Apply(row, new TokenHistory([], [-1])).Dispose()),
            R("FrequencyPresencePenalty.Apply(logits, history)", "negative history token", typeof(ArgumentException), "history holds token id -1 (generated token 0)",
                () => new FrequencyPresencePenalty(0.5f, 0.5f).Apply(row, new TokenHistory([], [-1])).Dispose()),
            R("SoftmaxNormalizer.Normalize", "null", typeof(ArgumentNullException), "logits", () => new SoftmaxNormalizer().Normalize(null!)),
            R("SoftmaxNormalizer.Normalize", "all −∞ row", typeof(ArgumentException), "-infinity", () => new SoftmaxNormalizer().Normalize(allNegInf).Dispose()),
            R("SoftmaxNormalizer.Normalize", "NaN logit", typeof(ArgumentException), "NaN", () => new SoftmaxNormalizer().Normalize(nan).Dispose()),
            R("DecodingPipelineBuilder.Use", "null", typeof(ArgumentNullException), "stage", () => new DecodingPipelineBuilder().Use(null!)),
            R("DecodingPipelineBuilder.UseCandidateCount", "-1", typeof(ArgumentOutOfRangeException), "count", () => new DecodingPipelineBuilder().UseCandidateCount(-1)),
            R("DecodingPipelineBuilder.UseTemperature", "NaN", typeof(ArgumentOutOfRangeException), "temperature", () => new DecodingPipelineBuilder().UseTemperature(float.NaN)),
            R("DecodingPipeline.NextToken", "null", typeof(ArgumentNullException), "logits", () => new DecodingPipelineBuilder().Build().NextToken(null!)),
            R("DecodingPipeline.NextToken", "[B, V] batch", typeof(ArgumentException), "single row", () => new DecodingPipelineBuilder().Build().NextToken(zeros(2, 3))),
            R("DecodingPipeline.NextToken", "Int64 logits", typeof(ArgumentException), "floating-point", () => new DecodingPipelineBuilder().Build().NextToken(ints)),
            R("DecodingPipeline.NextToken", "empty [0]", typeof(ArgumentException), "empty vocabulary", () => new DecodingPipelineBuilder().Build().NextToken(empty)),
            R("DecodingPipeline.NextToken", "NaN logit", typeof(ArgumentException), "NaN", () => new DecodingPipelineBuilder().Build().NextToken(nan)),
            R("DecodingPipeline.NextToken", "NaN logit through element-wise stages", typeof(ArgumentException), "NaN",
                () => new DecodingPipelineBuilder().UseTemperature(0.5f).Use(new RepetitionPenalty(1.3f)).Build().NextToken(nan)),
            R("DecodingPipeline.NextToken", "all −∞", typeof(ArgumentException), "-infinity", () => new DecodingPipelineBuilder().Build().NextToken(allNegInf)),
            R("DecodingPipeline.NextToken", "NaN logit, greedy", typeof(ArgumentException), "is NaN", () => new DecodingPipelineBuilder().UseGreedy().Build().NextToken(nan)),
            R("DecodingPipeline.NextToken", "NaN logit, T = 0 after a ban", typeof(ArgumentException), "is NaN",
                () => new DecodingPipelineBuilder().UseLogitBias(new Dictionary<int, float> { [1] = float.NegativeInfinity }).UseGreedy().Build().NextToken(nan)),
            R("DecodingPipeline.NextToken", "T = 1e-20, randn(50257) (fast path)", null, "", () =>
            {
                manual_seed(5);
                using var logits = randn(50257);
                var result = new DecodingPipelineBuilder().UseTemperature(1e-20f).Build().NextToken(logits, new SamplingRandom(1));
                Assert.AreEqual(logits.argmax().item<long>(), result.TokenId, "T -> 0 tends to the argmax");
                Assert.AreEqual(1f, result.Probability);
            }),
            R("DecodingPipeline.NextTokens", "rank 3", typeof(ArgumentException), "[V] or [B, V]", () => new DecodingPipelineBuilder().Build().NextTokens(rank3)),
            R("LogitsProjector(weight)", "null", typeof(ArgumentNullException), "weight", () => _ = new LogitsProjector(null!)),
            R("LogitsProjector(weight)", "vector / empty [0, d]", typeof(ArgumentException), "[V, d]", () => _ = new LogitsProjector(zeros(0, 4))),
            R("LogitsProjector(weight)", "Int64 matrix", typeof(ArgumentException), "floating-point", () => _ = new LogitsProjector(ones(3, 2, ScalarType.Int64))),
            R("LogitsProjector(weight, bias)", "bias of the wrong length", typeof(ArgumentException), "bias", () => _ = new LogitsProjector(weight, zeros(7))),
            R("LogitsProjector.Project", "null", typeof(ArgumentNullException), "hidden", () => new LogitsProjector(weight).Project(null!)),
            R("LogitsProjector.Project", "hidden of the wrong size", typeof(ArgumentException), "32", () => new LogitsProjector(weight).Project(zeros(31))),
            R("LogitsProjector.Project", "Int64 hidden", typeof(ArgumentException), "floating-point", () => new LogitsProjector(weight).Project(ones(32, ScalarType.Int64)).Dispose()),
            R("LogitsProjector.Project", "rank 3", typeof(ArgumentException), "[d] or [B, d]", () => new LogitsProjector(weight).Project(zeros(1, 1, 32))),
            R("LogitsProjector.Project", "after Dispose", typeof(ObjectDisposedException), "LogitsProjector", () =>
            {
                var projector = new LogitsProjector(weight);
                projector.Dispose();
                projector.Project(hidden);
            }),
            R("MultinomialSampler(sampleCount)", "0", typeof(ArgumentOutOfRangeException), "sampleCount", () => _ = new MultinomialSampler(0)),
            R("MultinomialSampler.Sample", "null", typeof(ArgumentNullException), "probabilities", () => new MultinomialSampler(seed: 1).Sample(null!)),
            R("MultinomialSampler.Sample", "NaN", typeof(ArgumentException), "NaN", () => new MultinomialSampler(seed: 1).Sample(nan).Dispose()),
            R("MultinomialSampler.Sample", "negative weight", typeof(ArgumentException), "negative", () => new MultinomialSampler(seed: 1).Sample(tensor(new[] { 0.5f, -0.1f })).Dispose()),
            R("MultinomialSampler.Sample", "all zero", typeof(ArgumentException), "sums to 0", () => new MultinomialSampler(seed: 1).Sample(zeros(4)).Dispose()),
            R("MultinomialSampler.Sample", "more draws than tokens", typeof(ArgumentException), "", () => new MultinomialSampler(5, seed: 1).Sample(tensor(new[] { 0.5f, 0.5f })).Dispose()),
            R("MultinomialSampler.Sample", "rank 3", typeof(ArgumentException), "", () => new MultinomialSampler(seed: 1).Sample(rank3).Dispose()),
            R("MultinomialSampler.Sample", "empty [0]", typeof(ArgumentException), "", () => new MultinomialSampler(seed: 1).Sample(empty).Dispose()),
            R("LanguageModelHead.GetTopToken", "[B, V] batch", typeof(ArgumentException), "single row", () => LanguageModelHead.GetTopToken(zeros(2, 3), Gpt2Tokenizer.Default)),
            R("LanguageModelHead.GetTopToken", "id the tokenizer cannot decode", typeof(ArgumentException), "token id 50300",
                () => LanguageModelHead.GetTopToken(paddedRow, Gpt2Tokenizer.Default, seed: 1)),
            R("LanguageModelHead.ComputeProbabilities", "Int64 hidden vector", typeof(ArgumentException), "floating-point",
                () => LanguageModelHead.ComputeProbabilities(gpt2Vocabulary, intHidden).Dispose()),
            R("LanguageModelHead.ComputeProbabilities", "null model", typeof(ArgumentNullException), "model", () => LanguageModelHead.ComputeProbabilities((IHasOutputEmbeddings)null!, hidden)),
            R("Gpt2Config.FromJson", "null", typeof(ArgumentNullException), "json", () => Gpt2Config.FromJson(null!)),
            R("Gpt2Config.FromJson", "empty text", typeof(JsonException), "", () => Gpt2Config.FromJson("")),
            R("Gpt2Config.FromJson", "wrong type (\"n_embd\": \"8\")", typeof(JsonException), "n_embd", () => Gpt2Config.FromJson("{\"n_embd\": \"8\"}")),
            R("Gpt2Config.FromJson", "negative size", typeof(ArgumentException), "n_layer must be positive", () => Gpt2Config.FromJson("{\"n_layer\": -1}")),
            R("Gpt2Config.FromJson", "n_head not dividing n_embd", typeof(ArgumentException), "divisible", () => Gpt2Config.FromJson("{\"n_embd\": 10, \"n_head\": 3}")),
            R("Gpt2Config.FromJson", "eos_token_id ≥ vocab_size", typeof(ArgumentException), "eos_token_id", () => Gpt2Config.FromJson("{\"vocab_size\": 10, \"bos_token_id\": 1, \"eos_token_id\": 10}")),
            R("Gpt2Config.FromJson", "NaN epsilon (\"NaN\")", typeof(JsonException), "layer_norm_epsilon", () => Gpt2Config.FromJson("{\"layer_norm_epsilon\": \"NaN\"}")),
            R("Gpt2Config.Load", "missing file", typeof(ModelFormatException), "does not exist", () => Gpt2Config.Load(Path.Combine(folder, "nope.json"))),
            R("Gpt2Pretrained.Load", "null", typeof(ArgumentNullException), "directory", () => Gpt2Pretrained.Load(null!)),
            R("Gpt2Pretrained.Load", "empty path / missing folder", typeof(DirectoryNotFoundException), "does not exist", () => Gpt2Pretrained.Load("")),
            R("Gpt2Pretrained.Load", "folder without config.json", typeof(ModelFormatException), "has no config.json", () => Gpt2Pretrained.Load(TinyGpt2.NewFolder())),
            R("Gpt2Pretrained.Load", "config needing more weights than stored", typeof(ModelFormatException), "stores only", () =>
            {
                string big = TinyGpt2.CreateFolder(TinyGpt2.Config(), seed: 4);
                File.WriteAllText(Path.Combine(big, "config.json"), (TinyGpt2.Config() with { VocabularySize = 1_000_000_000, MaxPositions = 1_000_000_000 }).ToJson());
                Gpt2Pretrained.Load(big).Dispose();
            }),
            R("Gpt2Pretrained.Load", "Int64 compute dtype", typeof(ArgumentException), "dtype", () => Gpt2Pretrained.Load(folder, ScalarType.Int64).Dispose()),
            R("Gpt2Pretrained.Save", "null model / null folder", typeof(ArgumentNullException), "model", () => Gpt2Pretrained.Save(null!, folder)),
            R("Gpt2Pretrained.Save", "Int32 storage dtype", typeof(ArgumentException), "storageDtype", () => Gpt2Pretrained.Save(model, TinyGpt2.NewFolder(), ScalarType.Int32)),
            R("Gpt2Pretrained.Save", "disposed model", typeof(ObjectDisposedException), "disposed", () =>
            {
                var disposed = new Gpt2Model(TinyGpt2.Config());
                disposed.Dispose();
                Gpt2Pretrained.Save(disposed, TinyGpt2.NewFolder());
            }),
            R("Gpt2Model(config)", "null", typeof(ArgumentNullException), "config", () => _ = new Gpt2Model(null!)),
            R("Gpt2Model(config)", "invalid config", typeof(ArgumentException), "n_embd must be positive", () => _ = new Gpt2Model(TinyGpt2.Config() with { HiddenSize = 0 })),
            R("Gpt2Model(config, dtype)", "Int32", typeof(ArgumentException), "dtype", () => _ = new Gpt2Model(TinyGpt2.Config(), ScalarType.Int32)),
            R("Gpt2Model.ComputeHiddenStates", "null", typeof(ArgumentNullException), "inputIds", () => model.ComputeHiddenStates(null!)),
            R("Gpt2Model.ComputeHiddenStates", "empty [0]", typeof(ArgumentException), "T ≥ 1", () => model.ComputeHiddenStates(emptyIds)),
            R("Gpt2Model.ComputeHiddenStates", "rank 3", typeof(ArgumentException), "[T] or [B, T]", () => model.ComputeHiddenStates(zeros(1, 1, 1, ScalarType.Int64))),
            R("Gpt2Model.ComputeHiddenStates", "Float32 ids", typeof(ArgumentException), "integer dtype", () => model.ComputeHiddenStates(floatIds)),
            R("Gpt2Model.ComputeHiddenStates", "unknown token id ≥ V", typeof(ArgumentOutOfRangeException), "[0, 300)", () => model.ComputeHiddenStates(outOfVocabulary)),
            R("Gpt2Model.ComputeHiddenStates", "negative token id", typeof(ArgumentOutOfRangeException), "[0, 300)", () => model.ComputeHiddenStates(negativeId)),
            R("Gpt2Model.ComputeHiddenStates", "longer than n_positions", typeof(ArgumentException), "n_positions = 64", () => model.ComputeHiddenStates(tooLong)),
            R("Gpt2Model.ComputeHiddenStates", "attention mask of the wrong shape", typeof(ArgumentException), "attentionMask", () => model.ComputeHiddenStates(ids, null, badMask)),
            R("Gpt2Model.ComputeHiddenStates", "disposed cache", typeof(ObjectDisposedException), "", () =>
            {
                var cache = model.CreateKvCache();
                cache.Dispose();
                model.ComputeHiddenStates(ids, cache);
            }),
            R("Gpt2Model.ComputeLogits", "null", typeof(ArgumentNullException), "inputIds", () => model.ComputeLogits(null!)),
            R("Gpt2Model.ComputeLogits", "unknown token id ≥ V", typeof(ArgumentOutOfRangeException), "[0, 300)", () => model.ComputeLogits(outOfVocabulary)),
            R("Gpt2Model.ComputeLogits", "longer than n_positions", typeof(ArgumentException), "n_positions = 64", () => model.ComputeLogits(tooLong)),
            R("GenerationOptions.MaxNewTokens", "0", typeof(ArgumentOutOfRangeException), "MaxNewTokens", () => _ = new GenerationOptions { MaxNewTokens = 0 }),
            R("DecodingOptions.Temperature", "NaN, -1, +∞", typeof(ArgumentOutOfRangeException), "Temperature", () => _ = new DecodingOptions { Temperature = float.PositiveInfinity }),
            R("DecodingOptions.TopK", "-1", typeof(ArgumentOutOfRangeException), "TopK", () => _ = new DecodingOptions { TopK = -1 }),
            R("GenerationOptions.StopSequences", "null", typeof(ArgumentNullException), "StopSequences", () => _ = new GenerationOptions { StopSequences = null! }),
            R("GenerationOptions.StopSequences", "an empty string", typeof(ArgumentException), "non-empty", () => _ = new GenerationOptions { StopSequences = [""] }),
            R("GenerationOptions.TopLogProbabilities", "21", typeof(ArgumentOutOfRangeException), "[0, 20]", () => _ = new GenerationOptions { TopLogProbabilities = 21 }),
            R("TextGenerator(model, tokenizer)", "null", typeof(ArgumentNullException), "model", () => _ = new TextGenerator(null!, Gpt2Tokenizer.Default)),
            RA("TextGenerator.GenerateAsync", "null prompt", typeof(ArgumentNullException), "prompt", () => generator.GenerateAsync(null!)),
            RA("TextGenerator.GenerateAsync", "empty prompt (model has bos_token_id)", null, "starts from BOS", () => generator.GenerateAsync("", new GenerationOptions { MaxNewTokens = 2, Decoding = new() { Seed = 1 } })),
            RA("TextGenerator.GenerateAsync", "empty prompt (no bos_token_id)", typeof(ArgumentException), "no bos_token_id",
                () => new TextGenerator(noBosModel, Gpt2Tokenizer.Default).GenerateAsync("")),
            RA("TextGenerator.GenerateAsync", "prompt longer than n_positions", typeof(ArgumentException), "n_positions = 64", () => generator.GenerateAsync(longPrompt)),
            RA("TextGenerator.GenerateAsync", "prompt tokens outside the model's vocabulary", typeof(ArgumentException), "outside the model's vocabulary",
                () => smallVocabularyGenerator.GenerateAsync("zebra crossing")),
            RA("TextGenerator.GenerateAsync", "canceled token", typeof(OperationCanceledException), "", () => generator.GenerateAsync("a", null, new CancellationToken(canceled: true))),
            RA("TextGenerator.GenerateStreamingAsync", "null prompt", typeof(ArgumentNullException), "prompt", async () =>
            {
                await foreach (var chunk in generator.GenerateStreamingAsync(null!))
                {
                }
            }),
        ]);

        var failures = new List<string>();
        var table = new System.Text.StringBuilder("| Entry point | Input | Outcome | Message (excerpt) |\n|---|---|---|---|\n");
        foreach (var entry in rows)
        {
            Exception? caught = null;
            try
            {
                await entry.Act().WaitAsync(TimeSpan.FromMinutes(1));
            }
            catch (Exception ex)
            {
                caught = ex;
            }

            string message = caught is null ? "" : caught.Message.Replace(Path.GetTempPath(), "/tmp/", StringComparison.Ordinal).ReplaceLineEndings(" ");
            string outcome = caught?.GetType().Name ?? "succeeds";
            table.Append(System.Globalization.CultureInfo.InvariantCulture, $"| `{entry.EntryPoint}` | {entry.Input} | {outcome} | {(message.Length > 150 ? message[..150] + "…" : message).Replace("|", "\\|", StringComparison.Ordinal)} |\n");
            bool typeOk = entry.Expected is null ? caught is null : caught is not null && caught.GetType() == entry.Expected
                || (entry.Expected == typeof(OperationCanceledException) && caught is OperationCanceledException);
            bool messageOk = caught is null || message.Contains(entry.Fragment, StringComparison.Ordinal);
            if (!typeOk || !messageOk)
            {
                failures.Add($"{entry.EntryPoint} with {entry.Input}: expected {entry.Expected?.Name ?? "success"} containing '{entry.Fragment}', got {outcome}: {message}");
            }
        }

        TestContext.WriteLine(table.ToString());
        Assert.IsEmpty(failures, string.Join("\n", failures));
    }
}
