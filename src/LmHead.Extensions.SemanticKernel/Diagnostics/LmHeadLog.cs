using Microsoft.Extensions.Logging;

namespace LmHead.Extensions.SemanticKernel.Diagnostics;

/// <summary>The log messages of the LmHead services (source-generated, so a disabled level costs nothing).</summary>
internal static partial class LmHeadLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information,
        Message = "Loaded model {Folder} in {Milliseconds:F0} ms: dtype {DType}, device {Device}, {Layers} layers, d = {HiddenSize}, context {Context} tokens")]
    internal static partial void ModelLoaded(ILogger logger, string folder, double milliseconds, string dType, string device, int layers, int hiddenSize, int context);

    [LoggerMessage(EventId = 2, Level = LogLevel.Debug,
        Message = "{Operation} {Model}: {InputTokens} input tokens, {OutputTokens} output tokens in {Milliseconds:F0} ms ({TokensPerSecond:F1} tokens/s), finish reason {FinishReason}")]
    internal static partial void RequestCompleted(
        ILogger logger, string operation, string model, int inputTokens, int outputTokens, double milliseconds, double tokensPerSecond, string finishReason);
}
