using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace LmHead.Extensions.SemanticKernel.Diagnostics;

/// <summary>
/// The name LmHead.Extensions reports traces and metrics under, following the OpenTelemetry gen_ai semantic
/// conventions: one span per request (<c>"chat {model}"</c> or <c>"text_completion {model}"</c>) and the histograms
/// <c>gen_ai.client.token.usage</c> and <c>gen_ai.client.operation.duration</c>.
/// </summary>
/// <remarks>
/// Subscribe with OpenTelemetry's <c>AddSource(LmHeadTelemetry.SourceName)</c> and <c>AddMeter(LmHeadTelemetry.SourceName)</c>,
/// or with an <see cref="ActivityListener"/> / <see cref="MeterListener"/>. Nothing is recorded while nobody listens.
/// </remarks>
public static class LmHeadTelemetry
{
    /// <summary>The name of the <see cref="System.Diagnostics.ActivitySource"/> and of the <see cref="System.Diagnostics.Metrics.Meter"/>: <c>LmHead.Extensions</c>.</summary>
    public const string SourceName = "LmHead.Extensions";

    /// <summary>The <c>gen_ai.provider.name</c> reported on every span and measurement: <c>lmhead</c>.</summary>
    public const string ProviderName = "lmhead";

    private static readonly string? s_version = typeof(LmHeadTelemetry).Assembly.GetName().Version?.ToString();

    internal static ActivitySource ActivitySource { get; } = new(SourceName, s_version);

    internal static Meter Meter { get; } = new(SourceName, s_version);

    // Bucket boundaries the gen_ai conventions advise for these two histograms.
    internal static Histogram<long> TokenUsage { get; } = Meter.CreateHistogram<long>(
        "gen_ai.client.token.usage", "{token}", "Number of input and output tokens used.",
        tags: null,
        advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864] });

    internal static Histogram<double> OperationDuration { get; } = Meter.CreateHistogram<double>(
        "gen_ai.client.operation.duration", "s", "GenAI operation duration.",
        tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92] });
}
