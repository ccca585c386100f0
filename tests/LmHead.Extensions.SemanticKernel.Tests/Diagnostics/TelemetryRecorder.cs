using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using LmHead.Extensions.SemanticKernel.Diagnostics;
using Microsoft.Extensions.Logging;

namespace LmHead.Extensions.SemanticKernel.Tests.Diagnostics;

/// <summary>
/// Records the spans, measurements and log lines LmHead.Extensions emits for one model id, with an
/// <see cref="ActivityListener"/>, a <see cref="MeterListener"/> and an in-memory <see cref="ILoggerFactory"/> (no exporter).
/// </summary>
public sealed class TelemetryRecorder : IDisposable, ILoggerFactory, ILoggerProvider
{
    private readonly string _modelId;
    private readonly ActivityListener _activities;
    private readonly MeterListener _meters = new();

    public TelemetryRecorder(string modelId)
    {
        _modelId = modelId;
        _activities = new ActivityListener
        {
            ShouldListenTo = source => source.Name == LmHeadTelemetry.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if ((string?)activity.GetTagItem("gen_ai.request.model") == _modelId)
                {
                    Activities.Enqueue(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(_activities);
        _meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == LmHeadTelemetry.SourceName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _meters.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _meters.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _meters.Start();
    }

    public ConcurrentQueue<Activity> Activities { get; } = new();

    public ConcurrentQueue<(string Instrument, double Value, Dictionary<string, object?> Tags)> Measurements { get; } = new();

    public ConcurrentQueue<(LogLevel Level, string Category, string Message)> Logs { get; } = new();

    public void Dispose()
    {
        _activities.Dispose();
        _meters.Dispose();
    }

    public ILogger CreateLogger(string categoryName) => new ListLogger(this, categoryName);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var map = new Dictionary<string, object?>();
        foreach (var tag in tags)
        {
            map[tag.Key] = tag.Value;
        }

        if ((string?)map.GetValueOrDefault("gen_ai.request.model") == _modelId)
        {
            Measurements.Enqueue((instrument.Name, value, map));
        }
    }

    private sealed class ListLogger(TelemetryRecorder recorder, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            recorder.Logs.Enqueue((logLevel, category, formatter(state, exception)));
    }
}
