using System.Diagnostics;
using LmHead.Extensions.Generation;
using Microsoft.Extensions.Logging;

namespace LmHead.Extensions.SemanticKernel.Diagnostics;

/// <summary>
/// The telemetry of one generation request: a span with the gen_ai request attributes, then the finish reason and
/// token usage, the two gen_ai histograms, and a Debug log line with the token counts and tokens/s.
/// </summary>
/// <remarks>Create with <see cref="Start"/>, call <see cref="Complete"/> or <see cref="Fail"/>, and dispose.</remarks>
internal sealed class GenerationOperation : IDisposable
{
    /// <summary>The <c>gen_ai.operation.name</c> of a chat request.</summary>
    internal const string Chat = "chat";

    /// <summary>The <c>gen_ai.operation.name</c> of a plain completion request.</summary>
    internal const string TextCompletion = "text_completion";

    private readonly string _operationName;
    private readonly string _modelId;
    private readonly ILogger? _logger;
    private readonly Activity? _activity;
    private readonly long _started = Stopwatch.GetTimestamp();
    private string? _errorType;
    private bool _completed;
    private bool _disposed;

    private GenerationOperation(string operationName, string modelId, GenerationOptions options, ILogger? logger)
    {
        _operationName = operationName;
        _modelId = modelId;
        _logger = logger;
        _activity = LmHeadTelemetry.ActivitySource.StartActivity($"{operationName} {modelId}", ActivityKind.Internal);
        if (_activity is { IsAllDataRequested: true } activity)
        {
            var decoding = options.Decoding;
            activity.SetTag("gen_ai.operation.name", operationName)
                .SetTag("gen_ai.provider.name", LmHeadTelemetry.ProviderName)
                .SetTag("gen_ai.request.model", modelId)
                .SetTag("gen_ai.request.max_tokens", options.MaxNewTokens)
                .SetTag("gen_ai.request.temperature", options.Pipeline is null ? (double)decoding.Temperature : null)
                .SetTag("gen_ai.request.top_p", decoding.TopP is { } topP ? (double)topP : null)
                .SetTag("gen_ai.request.top_k", decoding.TopK)
                .SetTag("gen_ai.request.frequency_penalty", decoding.FrequencyPenalty != 0f ? (double)decoding.FrequencyPenalty : null)
                .SetTag("gen_ai.request.presence_penalty", decoding.PresencePenalty != 0f ? (double)decoding.PresencePenalty : null)
                .SetTag("gen_ai.request.seed", (options.Pipeline is null ? decoding.Seed : options.Pipeline.Seed) is { } seed ? (long)seed : null)
                .SetTag("gen_ai.request.stop_sequences", options.StopSequences.Count > 0 ? options.StopSequences.ToArray() : null);
        }
    }

    /// <summary>Starts the span of a request.</summary>
    /// <param name="operationName"><see cref="Chat"/> or <see cref="TextCompletion"/>.</param>
    /// <param name="modelId">The model id (<c>gen_ai.request.model</c>).</param>
    /// <param name="options">The request's options (the <c>gen_ai.request.*</c> attributes).</param>
    /// <param name="logger">Where the Debug line with token counts and tokens/s goes, or <see langword="null"/>.</param>
    /// <returns>The operation; dispose it when the request ends.</returns>
    internal static GenerationOperation Start(string operationName, string modelId, GenerationOptions options, ILogger? logger = null) =>
        new(operationName, modelId, options, logger);

    /// <summary>The name OpenAI and the gen_ai conventions use for a finish reason: <c>length</c> or <c>stop</c>.</summary>
    internal static string FinishReasonName(FinishReason reason) => reason == FinishReason.Length ? "length" : "stop";

    /// <summary>Records a finished request: its finish reason and token usage.</summary>
    internal void Complete(string finishReason, int inputTokens, int outputTokens)
    {
        _completed = true;
        _activity?.SetTag("gen_ai.response.model", _modelId)
            .SetTag("gen_ai.response.finish_reasons", new[] { finishReason })
            .SetTag("gen_ai.usage.input_tokens", inputTokens)
            .SetTag("gen_ai.usage.output_tokens", outputTokens);
        var tags = CommonTags();
        tags.Add("gen_ai.response.model", _modelId);
        var input = tags;
        input.Add("gen_ai.token.type", "input");
        LmHeadTelemetry.TokenUsage.Record(inputTokens, input);
        var output = tags;
        output.Add("gen_ai.token.type", "output");
        LmHeadTelemetry.TokenUsage.Record(outputTokens, output);
        if (_logger?.IsEnabled(LogLevel.Debug) == true)
        {
            double seconds = Stopwatch.GetElapsedTime(_started).TotalSeconds;
            double milliseconds = seconds * 1000;
            double tokensPerSecond = outputTokens / Math.Max(seconds, 1e-9);
            LmHeadLog.RequestCompleted(_logger, _operationName, _modelId, inputTokens, outputTokens, milliseconds, tokensPerSecond, finishReason);
        }
    }

    /// <summary>Records a failed or canceled request (<c>error.type</c> is the exception's type name).</summary>
    internal void Fail(Exception exception)
    {
        _errorType = exception.GetType().FullName;
        _activity?.SetStatus(ActivityStatusCode.Error, exception.Message).SetTag("error.type", _errorType);
    }

    /// <summary>Ends the span and records the duration; a request neither completed nor failed counts as canceled.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (!_completed && _errorType is null)
        {
            Fail(new OperationCanceledException("The request ended before it completed."));
        }

        var tags = CommonTags();
        if (_errorType is not null)
        {
            tags.Add("error.type", _errorType);
        }
        else
        {
            tags.Add("gen_ai.response.model", _modelId);
        }

        LmHeadTelemetry.OperationDuration.Record(Stopwatch.GetElapsedTime(_started).TotalSeconds, tags);
        _activity?.Dispose();
    }

    private TagList CommonTags() => new()
    {
        { "gen_ai.operation.name", _operationName },
        { "gen_ai.provider.name", LmHeadTelemetry.ProviderName },
        { "gen_ai.request.model", _modelId },
    };
}
