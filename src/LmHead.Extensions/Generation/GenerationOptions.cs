using System.Text.Json.Serialization;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Grammar;

namespace LmHead.Extensions.Generation;

/// <summary>
/// How a <see cref="TextGenerator"/> generates: the generation concerns (length, stop sequences, log-probabilities)
/// plus the <see cref="Decoding"/> options that choose each token. Every value is validated when it is set
/// (<see cref="ArgumentOutOfRangeException"/> naming the allowed range); the generator never changes the instance it
/// is given.
/// </summary>
/// <remarks>
/// Its JSON form is one flat object with snake_case names, as OpenAI-style prompt settings write them: the generation
/// keys <c>max_tokens</c>, <c>stop_sequences</c>, <c>logprobs</c>, <c>top_logprobs</c>, <c>raw_logprobs</c>, <c>allow_special_tokens</c> beside the
/// <see cref="DecodingOptions"/> keys. See <see cref="GenerationOptionsJson"/>.
/// </remarks>
[JsonNumberHandling(JsonNumberHandling.AllowReadingFromString)]
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record GenerationOptions
{
    /// <summary>The largest number of <see cref="TopLogProbabilities"/>: 20.</summary>
    public const int MaxTopLogProbabilities = 20;

    private readonly int _maxNewTokens = 64;
    private readonly System.Collections.ObjectModel.ReadOnlyCollection<string> _stopSequences = new([]);
    private readonly int _topLogProbabilities;
    private readonly bool _includeLogProbabilities;
    private readonly DecodingOptions _decoding = DecodingOptions.Default;
    private readonly ContextOverflow _contextOverflow;

    /// <summary>The most tokens to generate, at least 1 (default 64).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    [JsonPropertyName("max_tokens")]
    public int MaxNewTokens
    {
        get => _maxNewTokens;
        init => _maxNewTokens = value >= 1 ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), value, $"{nameof(MaxNewTokens)} (max_tokens) must be at least 1, but was {value}.");
    }

    /// <summary>
    /// Texts that end generation when they appear in the output; the output stops just before the first one. A copy of
    /// the list is kept.
    /// </summary>
    /// <exception cref="ArgumentNullException">The list is null.</exception>
    /// <exception cref="ArgumentException">An entry is null or empty.</exception>
    [JsonPropertyName("stop_sequences")]
    [JsonConverter(typeof(StopSequencesJsonConverter))]
    public IReadOnlyList<string> StopSequences
    {
        get => _stopSequences;
        init
        {
            ArgumentNullException.ThrowIfNull(value, nameof(StopSequences));
            string[] copy = [.. value];
            if (copy.Any(string.IsNullOrEmpty))
            {
                throw new ArgumentException("StopSequences (stop_sequences) must hold non-empty strings.", nameof(StopSequences));
            }

            _stopSequences = copy.AsReadOnly();
        }
    }

    /// <summary>Whether to report each generated token's log-probability.</summary>
    [JsonPropertyName("logprobs")]
    public bool IncludeLogProbabilities
    {
        get => _includeLogProbabilities || _topLogProbabilities > 0;
        init => _includeLogProbabilities = value;
    }

    /// <summary>How many most likely alternatives to report per token, 0 to 20 (above 0 turns <see cref="IncludeLogProbabilities"/> on).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside 0 to 20.</exception>
    [JsonPropertyName("top_logprobs")]
    public int TopLogProbabilities
    {
        get => _topLogProbabilities;
        init => _topLogProbabilities = value is >= 0 and <= MaxTopLogProbabilities ? value
            : throw new ArgumentOutOfRangeException(nameof(TopLogProbabilities), value, $"{nameof(TopLogProbabilities)} (top_logprobs) must be in [0, {MaxTopLogProbabilities}], but was {value}.");
    }
    /// <summary>With <see cref="IncludeLogProbabilities"/>, also report each token's log-probability under the raw logits.</summary>
    [JsonPropertyName("raw_logprobs")]
    public bool IncludeRawLogProbabilities { get; init; }

    /// <summary>
    /// What happens when the prompt or the generation does not fit the model's context (<c>n_positions</c>); JSON
    /// <c>"context_overflow"</c> (<c>"error"</c> or <c>"sliding_window"</c>). Default <see cref="Generation.ContextOverflow.Error"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined <see cref="Generation.ContextOverflow"/>.</exception>
    [JsonPropertyName("context_overflow")]
    public ContextOverflow ContextOverflow
    {
        get => _contextOverflow;
        init => _contextOverflow = Enum.IsDefined(value) ? value
            : throw new ArgumentOutOfRangeException(nameof(ContextOverflow), value, $"{nameof(ContextOverflow)} (context_overflow) must be Error (\"error\") or SlidingWindow (\"sliding_window\"), but was {(int)value}.");
    }

    /// <summary>
    /// Whether the literal text of a special token in the prompt (GPT-2's <c>&lt;|endoftext|&gt;</c>) encodes as that
    /// special token (<c>allow_special_tokens</c>). Default <see langword="false"/>: prompts are user text, so such text
    /// encodes as the plain characters it is made of and cannot inject a control token. Set it only for prompts you
    /// write yourself.
    /// </summary>
    [JsonPropertyName("allow_special_tokens")]
    public bool AllowSpecialTokensInPrompt { get; init; }

    /// <summary>
    /// Whether the generator leaves out <see cref="TextGenerator.PromptPrefixTokenIds"/>: set by the chat client for a
    /// prompt rendered from a chat template, which writes its own BOS token.
    /// </summary>
    [JsonIgnore]
    internal bool WithoutPromptPrefix { get; init; }

    /// <summary>How the next token is chosen: temperature, top-k, top-p, min-p, penalties, bias, seed (default <see cref="DecodingOptions.Default"/>).</summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    [JsonIgnore]
    public DecodingOptions Decoding
    {
        get => _decoding;
        init => _decoding = value ?? throw new ArgumentNullException(nameof(Decoding));
    }

    /// <summary>Value equality, with the stop sequences compared in order.</summary>
    /// <param name="other">The options to compare with.</param>
    /// <returns>Whether every option is equal.</returns>
    public bool Equals(GenerationOptions? other) =>
        other is not null && _maxNewTokens == other._maxNewTokens && _stopSequences.SequenceEqual(other._stopSequences)
        && IncludeLogProbabilities == other.IncludeLogProbabilities && _topLogProbabilities == other._topLogProbabilities
        && IncludeRawLogProbabilities == other.IncludeRawLogProbabilities && AllowSpecialTokensInPrompt == other.AllowSpecialTokensInPrompt
        && WithoutPromptPrefix == other.WithoutPromptPrefix
        && _contextOverflow == other._contextOverflow
        && _decoding.Equals(other._decoding) && ReferenceEquals(Pipeline, other.Pipeline) && Equals(OutputConstraint, other.OutputConstraint);

    /// <summary>A hash consistent with <see cref="Equals(GenerationOptions?)"/>.</summary>
    /// <returns>The hash.</returns>
    public override int GetHashCode() =>
        HashCode.Combine(_maxNewTokens, _stopSequences.Count, IncludeLogProbabilities, _topLogProbabilities, IncludeRawLogProbabilities, _decoding);

    /// <summary>
    /// The shape the output must have (any JSON, a JSON schema, a regular expression), enforced token by token by a
    /// <see cref="GrammarConstraint"/>; <see langword="null"/> (the default) leaves the text free. Generation ends with
    /// <see cref="FinishReason.GrammarComplete"/> once the text is complete and nothing may follow. JSON
    /// <c>response_format</c>, in OpenAI's shape (<c>{"type":"json_schema","json_schema":{"schema":{...}}}</c>).
    /// </summary>
    [JsonPropertyName("response_format")]
    [JsonConverter(typeof(OutputConstraintJsonConverter))]
    public OutputConstraint? OutputConstraint { get; init; }

    /// <summary>
    /// A fixed pipeline that decides every token instead of one built from <see cref="Decoding"/>: a pipeline composed
    /// by hand, or an ML.NET chain's (<c>ToDecodingPipeline()</c> in LmHead.Extensions.ML). Its seed seeds the request.
    /// <see cref="Decoding"/> must then stay at its default, so no option is silently ignored.
    /// </summary>
    [JsonIgnore]
    public DecodingPipeline? Pipeline { get; init; }

    /// <summary>The pipeline a request runs: <see cref="Pipeline"/>, or the one <see cref="Decoding"/> describes (see <see cref="DecodingPipeline.Create"/>).</summary>
    /// <param name="candidateCount">How many candidates each decision reports (for a pipeline built from <see cref="Decoding"/>).</param>
    /// <returns>The pipeline.</returns>
    /// <exception cref="InvalidOperationException"><see cref="Pipeline"/> is set and <see cref="Decoding"/> is not the default.</exception>
    public DecodingPipeline BuildPipeline(int candidateCount = 0)
    {
        if (Pipeline is null)
        {
            return DecodingPipeline.Create(Decoding, candidateCount);
        }

        if (!Decoding.Equals(DecodingOptions.Default))
        {
            throw new InvalidOperationException(
                $"The request sets decoding options ({DescribeChanges(Decoding)}), but its decoding is fixed by {nameof(Pipeline)} (for example a served ML.NET chain); leave them unset.");
        }

        return Pipeline;
    }

    /// <summary>
    /// The request's pipeline (<see cref="BuildPipeline(int)"/>), with the <see cref="OutputConstraint"/>'s stage over
    /// <paramref name="tokenizer"/>'s token bytes when one is set.
    /// </summary>
    internal DecodingPipeline BuildPipeline(Microsoft.ML.Tokenizers.Tokenizer tokenizer, int? endOfTextTokenId, int candidateCount = 0)
    {
        var pipeline = BuildPipeline(candidateCount);
        return OutputConstraint is { } constraint
            ? pipeline.WithConstraint(new GrammarConstraint(CompiledGrammar.For(constraint), TokenVocabulary.FromTokenizer(tokenizer, endOfTextTokenId)))
            : pipeline;
    }

    private static string DescribeChanges(DecodingOptions decoding)
    {
        var set = GenerationOptionsJson.Write(new GenerationOptions { Decoding = decoding });
        var defaults = GenerationOptionsJson.Write(new GenerationOptions());
        return string.Join(", ", GenerationOptionsJson.DecodingKeys.Where(k => !System.Text.Json.Nodes.JsonNode.DeepEquals(set[k], defaults[k])));
    }
}
