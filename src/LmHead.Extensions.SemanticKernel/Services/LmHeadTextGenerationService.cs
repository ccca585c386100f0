using System.Runtime.CompilerServices;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Generation;
using LmHead.Extensions.SemanticKernel.Diagnostics;
using LmHead.Extensions.SemanticKernel.Settings;
using Microsoft.Extensions.Logging;
using UsageDetails = Microsoft.Extensions.AI.UsageDetails;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.Services;
using Microsoft.SemanticKernel.TextGeneration;

namespace LmHead.Extensions.SemanticKernel.Services;

/// <summary>
/// A Semantic Kernel <see cref="ITextGenerationService"/> on a local GPT-2 model and the LmHead decoding pipeline. Reads
/// <see cref="LmHeadPromptExecutionSettings"/> (or any settings, through
/// <see cref="LmHeadPromptExecutionSettings.FromExecutionSettings"/>), streams text as it becomes final, and reports
/// the finish reason, token counts and, when requested, log-probabilities under <see cref="LmHeadMetadataKeys"/>.
/// </summary>
/// <remarks>
/// One instance serves concurrent requests: each request has its own KV cache and seeded sampler, so a seeded request
/// returns the same text alone or beside others. Stop sequences never appear in the output, and a canceled request
/// throws <see cref="OperationCanceledException"/>. Every request is traced as a <c>text_completion {model}</c> span with
/// the gen_ai metrics (see <see cref="LmHeadTelemetry"/>) and logged at Debug with its token counts and tokens/s.
/// </remarks>
public sealed class LmHeadTextGenerationService : ITextGenerationService
{
    private readonly Lazy<TextGenerator> _generator;
    private readonly string _modelId;
    private readonly ILogger? _logger;

    /// <summary>Creates a service over a generator.</summary>
    /// <param name="generator">The generator; it may be shared with other services.</param>
    /// <param name="modelId">The model id, reported as <see cref="AIServiceExtensions.ModelIdKey"/> for selection by <c>model_id</c>.</param>
    /// <param name="loggerFactory">Where each request's token counts and tokens/s are logged (at Debug), or <see langword="null"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="generator"/> or <paramref name="modelId"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="modelId"/> is empty or white space.</exception>
    public LmHeadTextGenerationService(TextGenerator generator, string modelId, ILoggerFactory? loggerFactory = null)
        : this(new Lazy<TextGenerator>(generator ?? throw new ArgumentNullException(nameof(generator))), modelId, loggerFactory)
    {
    }

    /// <summary>Creates a service whose generator is created on first use (the model loads lazily).</summary>
    internal LmHeadTextGenerationService(Lazy<TextGenerator> generator, string modelId, ILoggerFactory? loggerFactory = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelId);
        _generator = generator;
        _modelId = modelId;
        _logger = loggerFactory?.CreateLogger<LmHeadTextGenerationService>();
        Attributes = new Dictionary<string, object?> { [AIServiceExtensions.ModelIdKey] = modelId };
    }

    /// <summary>
    /// Whether the <see cref="LmHeadSettingNames.HarmlessOpenAiSettings"/> (<c>user</c>, <c>n</c> = 1, ...) of prompt
    /// settings shared with OpenAI connectors are skipped instead of rejected (default: rejected, like any unknown key).
    /// </summary>
    public bool IgnoreHarmlessOpenAiSettings { get; init; }

    /// <summary>
    /// A fixed decoding pipeline that decides every token (for example an ML.NET chain's, from <c>ToDecodingPipeline()</c>),
    /// or <see langword="null"/> to build one per request from the settings. With a pipeline, prompt settings still set
    /// <c>max_tokens</c>, <c>stop_sequences</c> and log-probabilities, and a decoding setting is an error.
    /// </summary>
    public DecodingPipeline? Pipeline { get; init; }

    /// <summary>The service attributes; <see cref="AIServiceExtensions.ModelIdKey"/> holds the model id.</summary>
    public IReadOnlyDictionary<string, object?> Attributes { get; }

    /// <summary>Generates one completion of <paramref name="prompt"/>.</summary>
    /// <param name="prompt">The prompt.</param>
    /// <param name="executionSettings">The settings, of any type (see <see cref="LmHeadPromptExecutionSettings.FromExecutionSettings"/>).</param>
    /// <param name="kernel">Not used.</param>
    /// <param name="cancellationToken">Checked before every token.</param>
    /// <returns>One <see cref="TextContent"/> with the metadata under <see cref="LmHeadMetadataKeys"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="prompt"/> is null.</exception>
    /// <exception cref="ArgumentException">A setting is invalid or unsupported; the message names it.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public async Task<IReadOnlyList<TextContent>> GetTextContentsAsync(
        string prompt, PromptExecutionSettings? executionSettings = null, Kernel? kernel = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var options = LmHeadPromptExecutionSettings.WithPipeline(
            LmHeadPromptExecutionSettings.FromExecutionSettings(executionSettings, IgnoreHarmlessOpenAiSettings).ToGenerationOptions(), Pipeline);
        using var operation = GenerationOperation.Start(GenerationOperation.TextCompletion, _modelId, options, _logger);
        GenerationResult result;
        try
        {
            result = await _generator.Value.GenerateAsync(prompt, options, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            operation.Fail(ex);
            throw;
        }

        operation.Complete(GenerationOperation.FinishReasonName(result.FinishReason), result.PromptTokenCount, result.CompletionTokenCount);
        var metadata = CreateMetadata(result.FinishReason, result.PromptTokenCount, result.CompletionTokenCount, options, result.LogProbabilities);
        return [new TextContent(result.Text, _modelId, result, System.Text.Encoding.UTF8, metadata)];
    }

    /// <summary>Generates a completion of <paramref name="prompt"/> as a stream of text pieces.</summary>
    /// <param name="prompt">The prompt.</param>
    /// <param name="executionSettings">The settings, of any type (see <see cref="LmHeadPromptExecutionSettings.FromExecutionSettings"/>).</param>
    /// <param name="kernel">Not used.</param>
    /// <param name="cancellationToken">Checked before every token.</param>
    /// <returns>
    /// The pieces, each carrying the model id; the last one carries the metadata under <see cref="LmHeadMetadataKeys"/>
    /// (its log-probabilities are those of its own tokens; every piece carries its own when requested).
    /// </returns>
    /// <exception cref="ArgumentNullException"><paramref name="prompt"/> is null.</exception>
    /// <exception cref="ArgumentException">A setting is invalid or unsupported; the message names it.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public async IAsyncEnumerable<StreamingTextContent> GetStreamingTextContentsAsync(
        string prompt, PromptExecutionSettings? executionSettings = null, Kernel? kernel = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var options = LmHeadPromptExecutionSettings.WithPipeline(
            LmHeadPromptExecutionSettings.FromExecutionSettings(executionSettings, IgnoreHarmlessOpenAiSettings).ToGenerationOptions(), Pipeline);
        using var operation = GenerationOperation.Start(GenerationOperation.TextCompletion, _modelId, options, _logger);
        await using var chunks = _generator.Value.GenerateStreamingAsync(prompt, options, cancellationToken).ConfigureAwait(false).GetAsyncEnumerator();
        while (true)
        {
            GenerationChunk chunk;
            try
            {
                if (!await chunks.MoveNextAsync())
                {
                    break;
                }

                chunk = chunks.Current;
            }
            catch (Exception ex)
            {
                operation.Fail(ex);
                throw;
            }

            if (chunk.FinishReason is { } finish)
            {
                operation.Complete(GenerationOperation.FinishReasonName(finish), chunk.PromptTokenCount, chunk.CompletionTokenCount);
                var metadata = CreateMetadata(finish, chunk.PromptTokenCount, chunk.CompletionTokenCount, options, chunk.LogProbabilities);
                yield return new StreamingTextContent(chunk.Text, 0, _modelId, chunk, System.Text.Encoding.UTF8, metadata);
            }
            else if (chunk.Text.Length > 0 || chunk.LogProbabilities.Count > 0)
            {
                IReadOnlyDictionary<string, object?>? metadata = options.IncludeLogProbabilities
                    ? new Dictionary<string, object?> { [LmHeadMetadataKeys.LogProbabilities] = chunk.LogProbabilities }
                    : null;
                yield return new StreamingTextContent(chunk.Text, 0, _modelId, chunk, System.Text.Encoding.UTF8, metadata);
            }
        }
    }

    private static Dictionary<string, object?> CreateMetadata(
        FinishReason finishReason, int promptTokens, int completionTokens, GenerationOptions options, IReadOnlyList<TokenLogProbability> logProbabilities)
    {
        var metadata = new Dictionary<string, object?>
        {
            [LmHeadMetadataKeys.FinishReason] = finishReason,
            [LmHeadMetadataKeys.PromptTokenCount] = promptTokens,
            [LmHeadMetadataKeys.CompletionTokenCount] = completionTokens,
            [LmHeadMetadataKeys.Usage] = new UsageDetails
            {
                InputTokenCount = promptTokens,
                OutputTokenCount = completionTokens,
                TotalTokenCount = promptTokens + completionTokens,
            },
        };
        if (options.IncludeLogProbabilities)
        {
            metadata[LmHeadMetadataKeys.LogProbabilities] = logProbabilities;
        }

        return metadata;
    }
}
