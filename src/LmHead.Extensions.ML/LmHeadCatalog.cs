using LmHead.Extensions.Decoding;
using LmHead.Extensions.MachineLearning;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace Microsoft.ML;

/// <summary>
/// Adds the LM-head stages to <see cref="TransformsCatalog"/>: project hidden states to logits, scale by a temperature,
/// keep the top k, normalise to probabilities and sample the next token.
/// </summary>
public static class LmHeadCatalog
{
    /// <summary>Projects a hidden-state column to logits over the vocabulary with an output-embedding matrix.</summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">The logits column to add, <c>Vector&lt;Single, V&gt;</c>.</param>
    /// <param name="inputColumnName">The hidden-state column, <c>Vector&lt;Single, d&gt;</c>.</param>
    /// <param name="weight">The output-embedding matrix <c>[V, d]</c>; the estimator shares its storage (no copy).</param>
    /// <param name="bias">An optional bias <c>[V]</c>.</param>
    /// <returns>The estimator.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="catalog"/> or <paramref name="weight"/> is null.</exception>
    /// <exception cref="ArgumentException">A column name is empty, or a tensor shape or dtype is wrong.</exception>
    public static LogitsProjectionEstimator ProjectToLogits(
        this TransformsCatalog catalog, string outputColumnName, string inputColumnName, Tensor weight, Tensor? bias = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new LogitsProjectionEstimator(outputColumnName, inputColumnName, new LogitsProjector(weight, bias));
    }

    /// <summary>Divides logits by a temperature (T = 0 keeps only the first maximum, i.e. greedy decoding).</summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">The scaled-logits column to add.</param>
    /// <param name="inputColumnName">The logits column, <c>Vector&lt;Single, V&gt;</c>.</param>
    /// <param name="temperature">T ≥ 0 and finite.</param>
    /// <returns>The estimator.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="catalog"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="temperature"/> is negative, NaN or infinite.</exception>
    public static LogitsStageEstimator ScaleTemperature(
        this TransformsCatalog catalog, string outputColumnName, string inputColumnName, float temperature = DecodingDefaults.Temperature)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new LogitsStageEstimator(outputColumnName, inputColumnName, LogitsStageDescription.Temperature(temperature));
    }

    /// <summary>Keeps the k highest logits of each row and sets the others to -infinity.</summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">The filtered-logits column to add.</param>
    /// <param name="inputColumnName">The logits column, <c>Vector&lt;Single, V&gt;</c>.</param>
    /// <param name="k">How many logits to keep; at least 1.</param>
    /// <returns>The estimator.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="catalog"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="k"/> is not positive.</exception>
    public static LogitsStageEstimator KeepTopK(
        this TransformsCatalog catalog, string outputColumnName, string inputColumnName, int k = DecodingDefaults.TopK)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new LogitsStageEstimator(outputColumnName, inputColumnName, LogitsStageDescription.TopK(k));
    }

    /// <summary>Nucleus filtering: keeps the smallest set of tokens with probability mass ≥ p (the crossing token kept).</summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">The filtered-logits column to add.</param>
    /// <param name="inputColumnName">The logits column, <c>Vector&lt;Single, V&gt;</c>.</param>
    /// <param name="p">The mass to keep, in (0, 1].</param>
    /// <param name="minTokensToKeep">At least this many tokens survive.</param>
    /// <returns>The estimator.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="catalog"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="p"/> or <paramref name="minTokensToKeep"/> is out of range.</exception>
    public static LogitsStageEstimator KeepTopP(
        this TransformsCatalog catalog, string outputColumnName, string inputColumnName, float p, int minTokensToKeep = 1)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new LogitsStageEstimator(outputColumnName, inputColumnName, LogitsStageDescription.Filter(LogitsFilter.TopP(p, minTokensToKeep)));
    }

    /// <summary>Min-p filtering: keeps tokens whose probability is at least min_p × the top probability.</summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">The filtered-logits column to add.</param>
    /// <param name="inputColumnName">The logits column, <c>Vector&lt;Single, V&gt;</c>.</param>
    /// <param name="minP">The relative threshold, in [0, 1].</param>
    /// <returns>The estimator.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="catalog"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="minP"/> is out of range.</exception>
    public static LogitsStageEstimator KeepMinP(this TransformsCatalog catalog, string outputColumnName, string inputColumnName, float minP)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new LogitsStageEstimator(outputColumnName, inputColumnName, LogitsStageDescription.Filter(LogitsFilter.MinP(minP)));
    }

    /// <summary>Adds a fixed bias to chosen tokens' logits; -infinity bans a token.</summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">The biased-logits column to add.</param>
    /// <param name="inputColumnName">The logits column, <c>Vector&lt;Single, V&gt;</c>.</param>
    /// <param name="bias">Token id → bias.</param>
    /// <returns>The estimator.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is negative or a bias is NaN or +infinity.</exception>
    public static LogitsStageEstimator AddLogitBias(
        this TransformsCatalog catalog, string outputColumnName, string inputColumnName, IReadOnlyDictionary<int, float> bias)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(bias);
        return new LogitsStageEstimator(outputColumnName, inputColumnName, LogitsStageDescription.Filter(LogitsFilter.LogitBias(bias)));
    }

    /// <summary>
    /// Hugging Face's repetition penalty: for each distinct token id in the row's history column, a negative logit is
    /// multiplied by the penalty and a positive one divided by it.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">The penalised-logits column to add.</param>
    /// <param name="inputColumnName">The logits column, <c>Vector&lt;Single, V&gt;</c>.</param>
    /// <param name="historyColumnName">A <c>Vector&lt;Single&gt;</c> column of token ids seen so far (prompt and output), any length.</param>
    /// <param name="penalty">A finite factor &gt; 0 (1 = off).</param>
    /// <param name="window">Only the last this-many ids count; <see langword="null"/> for all.</param>
    /// <returns>The estimator.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="penalty"/> or <paramref name="window"/> is out of range.</exception>
    public static LogitsStageEstimator ApplyRepetitionPenalty(
        this TransformsCatalog catalog, string outputColumnName, string inputColumnName, string historyColumnName, float penalty, int? window = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(historyColumnName);
        return new LogitsStageEstimator(outputColumnName, inputColumnName, LogitsStageDescription.Penalty(
            new LogitsPenalty(new RepetitionPenalty(penalty, window), historyColumnName, "ApplyRepetitionPenalty", HistoryIsGenerated: false)));
    }

    /// <summary>
    /// OpenAI's frequency and presence penalties over the token ids in the row's history column (the generated tokens):
    /// <c>logit -= count × frequency + (count &gt; 0 ? presence : 0)</c>.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">The penalised-logits column to add.</param>
    /// <param name="inputColumnName">The logits column, <c>Vector&lt;Single, V&gt;</c>.</param>
    /// <param name="historyColumnName">A <c>Vector&lt;Single&gt;</c> column of generated token ids, any length.</param>
    /// <param name="frequency">Subtracted per occurrence; finite.</param>
    /// <param name="presence">Subtracted once for any occurrence; finite.</param>
    /// <param name="window">Only the last this-many ids count; <see langword="null"/> for all.</param>
    /// <returns>The estimator.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A penalty is NaN or infinite, or <paramref name="window"/> is out of range.</exception>
    public static LogitsStageEstimator ApplyFrequencyPresencePenalty(
        this TransformsCatalog catalog, string outputColumnName, string inputColumnName, string historyColumnName, float frequency, float presence, int? window = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(historyColumnName);
        return new LogitsStageEstimator(outputColumnName, inputColumnName, LogitsStageDescription.Penalty(
            new LogitsPenalty(new FrequencyPresencePenalty(frequency, presence, window), historyColumnName, "ApplyFrequencyPresencePenalty", HistoryIsGenerated: true)));
    }

    /// <summary>Turns logits into probabilities with a numerically stable softmax.</summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">The probabilities column to add.</param>
    /// <param name="inputColumnName">The logits column, <c>Vector&lt;Single, V&gt;</c>.</param>
    /// <returns>The estimator.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="catalog"/> is null.</exception>
    public static LogitsStageEstimator NormalizeToProbabilities(this TransformsCatalog catalog, string outputColumnName, string inputColumnName)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new LogitsStageEstimator(outputColumnName, inputColumnName, LogitsStageDescription.Softmax());
    }

    /// <summary>Samples the next token from a probabilities column, reproducibly per row for a given seed.</summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">The token-id column to add, <c>UInt32</c>.</param>
    /// <param name="inputColumnName">The probabilities column, <c>Vector&lt;Single, V&gt;</c>.</param>
    /// <param name="seed">The seed; <see langword="null"/> picks an unpredictable one (fixed for the estimator's lifetime).</param>
    /// <param name="probabilityColumnName">The column for the token's probability, <c>Single</c>; by default the output name followed by <c>Probability</c>.</param>
    /// <param name="streamKeyColumnName">
    /// An integer column (UInt64, UInt32, Int64 or Int32, non-negative) that keys each row's random stream, such as a
    /// request id; by default the row id. Required to save the model, because a loaded model cannot read row ids.
    /// </param>
    /// <returns>The estimator.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="catalog"/> is null.</exception>
    public static NextTokenSamplingEstimator SampleNextToken(
        this TransformsCatalog catalog, string outputColumnName, string inputColumnName, ulong? seed = null,
        string? probabilityColumnName = null, string? streamKeyColumnName = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new NextTokenSamplingEstimator(
            outputColumnName, probabilityColumnName ?? outputColumnName + "Probability", inputColumnName,
            seed ?? SamplingRandom.CreateUnseeded().NextUInt64(), streamKeyColumnName);
    }

    /// <summary>
    /// Structured output in ML.NET: sets to -infinity every logit whose token would take the row's generated text out of
    /// <paramref name="constraint"/> (JSON, a JSON schema, a regular expression), and allows the end-of-text token only
    /// where the text may end, as <see cref="LmHead.Extensions.Decoding.Grammar.GrammarConstraint"/> does in generation.
    /// </summary>
    /// <remarks>
    /// A row-wise transform keeps no state across rows, so each row carries its own position: the generated token ids
    /// so far, in <paramref name="generatedColumnName"/> (the tokens after the prompt, in order). The grammar is compiled
    /// once (and cached by constraint); each row is followed from the start of the grammar, which costs a few
    /// microseconds per generated byte, then the mask of its state (cached per state, shared with generation). Chain
    /// <c>DecodeNextToken</c> (or the sampling stages) on the output column to draw a token the grammar allows. Not
    /// saveable yet (<c>Model.Save</c> throws <see cref="NotSupportedException"/>), like the penalties. At transform time a
    /// row whose generated tokens leave the grammar fails with an <see cref="ArgumentException"/> naming the token and its
    /// position.
    /// </remarks>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">The masked-logits column to add, <c>Vector&lt;Single, V&gt;</c>.</param>
    /// <param name="inputColumnName">The logits column, <c>Vector&lt;Single, V&gt;</c>.</param>
    /// <param name="generatedColumnName">A <c>Vector&lt;Single&gt;</c> column of the row's generated token ids, any length.</param>
    /// <param name="constraint">The output constraint.</param>
    /// <param name="vocabulary">The bytes of the model's tokens (<see cref="LmHead.Extensions.Decoding.Grammar.TokenVocabulary.FromTokenizer"/>).</param>
    /// <returns>The estimator.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The constraint does not compile (the message names the keyword or construct).</exception>
    public static LogitsStageEstimator ApplyOutputConstraint(
        this TransformsCatalog catalog, string outputColumnName, string inputColumnName, string generatedColumnName,
        LmHead.Extensions.Decoding.Grammar.OutputConstraint constraint, LmHead.Extensions.Decoding.Grammar.TokenVocabulary vocabulary)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(generatedColumnName);
        ArgumentNullException.ThrowIfNull(constraint);
        ArgumentNullException.ThrowIfNull(vocabulary);
        var stage = new LmHead.Extensions.Decoding.Grammar.GrammarConstraint(LmHead.Extensions.Decoding.Grammar.CompiledGrammar.For(constraint), vocabulary);
        return new LogitsStageEstimator(outputColumnName, inputColumnName, LogitsStageDescription.Penalty(
            new LogitsPenalty(stage, generatedColumnName, "ApplyOutputConstraint", HistoryIsGenerated: true)));
    }

    /// <summary>
    /// Decodes the next token as <paramref name="options"/> describe: the stages <see cref="DecodingOptions.CreateStages"/>
    /// lists, in that order (logit bias, penalties, temperature, top-k, top-p, min-p; greedy options give a temperature of
    /// 0), then <c>NormalizeToProbabilities</c> and <c>SampleNextToken</c> seeded with <see cref="DecodingOptions.Seed"/>.
    /// </summary>
    /// <remarks>
    /// The chain adds the token column, its probability column (<c>&lt;output&gt;Probability</c>) and drops the
    /// intermediate columns it made. <c>chain.ToDecodingPipeline()</c> of the fitted chain gives back
    /// <paramref name="options"/> as its <see cref="DecodingPipeline.Options"/>, so the chain and
    /// <c>DecodingPipeline.Create(options)</c> keyed by step draw the same tokens.
    /// </remarks>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">The token-id column to add, <c>UInt32</c>.</param>
    /// <param name="inputColumnName">The logits column, <c>Vector&lt;Single, V&gt;</c>.</param>
    /// <param name="options">The decoding options.</param>
    /// <param name="streamKeyColumnName">The integer column that keys each row's draw (for example the generation step); by default the row id (see <see cref="SampleNextToken"/>).</param>
    /// <param name="historyColumnName">The <c>Vector&lt;Single&gt;</c> column of prompt and output token ids the repetition penalty reads; required when it is on.</param>
    /// <param name="generatedColumnName">The <c>Vector&lt;Single&gt;</c> column of generated token ids the frequency and presence penalties read; required when they are on.</param>
    /// <returns>The estimator chain.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="catalog"/> or <paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException">A penalty is on but its history column name is not given.</exception>
    public static EstimatorChain<ITransformer> DecodeNextToken(
        this TransformsCatalog catalog, string outputColumnName, string inputColumnName, DecodingOptions options,
        string? streamKeyColumnName = null, string? historyColumnName = null, string? generatedColumnName = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(outputColumnName);
        var chain = new EstimatorChain<ITransformer>();
        var temporaries = new List<string>();
        string column = inputColumnName;
        foreach (var stage in options.CreateStages())
        {
            var description = stage switch
            {
                LogitBias b => LogitsStageDescription.Filter(LogitsFilter.LogitBias(b.Bias)),
                RepetitionPenalty r => LogitsStageDescription.Penalty(new LogitsPenalty(
                    r, historyColumnName ?? throw MissingHistory(nameof(historyColumnName), "repetition_penalty", options.RepetitionPenalty),
                    "ApplyRepetitionPenalty", HistoryIsGenerated: false)),
                FrequencyPresencePenalty f => LogitsStageDescription.Penalty(new LogitsPenalty(
                    f, generatedColumnName ?? throw MissingHistory(nameof(generatedColumnName), "frequency_penalty/presence_penalty", $"{f.Frequency}/{f.Presence}"),
                    "ApplyFrequencyPresencePenalty", HistoryIsGenerated: true)),
                TemperatureScaler t => LogitsStageDescription.Temperature(t.Temperature),
                TopKFilter k => LogitsStageDescription.TopK(k.K),
                TopPFilter p => LogitsStageDescription.Filter(LogitsFilter.TopP(p.P, p.MinTokensToKeep)),
                MinPFilter m => LogitsStageDescription.Filter(LogitsFilter.MinP(m.MinP)),
                _ => throw new NotSupportedException($"DecodeNextToken: the options describe a {stage.GetType().Name}, which has no ML.NET stage."),
            };
            string output = $"{outputColumnName}.{description.StageName}.{temporaries.Count}";
            chain = chain.Append<ITransformer>(new LogitsStageEstimator(output, column, description));
            temporaries.Add(output);
            column = output;
        }

        string probabilities = $"{outputColumnName}.Probabilities";
        temporaries.Add(probabilities);
        return chain
            .Append<ITransformer>(catalog.NormalizeToProbabilities(probabilities, column))
            .Append<ITransformer>(catalog.SampleNextToken(outputColumnName, probabilities, options.Seed, streamKeyColumnName: streamKeyColumnName))
            .Append<ITransformer>(catalog.DropColumns([.. temporaries]));
    }

    private static ArgumentException MissingHistory(string parameter, string option, object? value) => new(
        $"DecodeNextToken: {option} is {value}, so {parameter} must name the column of token ids it counts, but it was null.", parameter);
}
