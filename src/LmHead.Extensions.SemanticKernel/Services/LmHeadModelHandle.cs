using System.Diagnostics;
using LmHead.Extensions.Chat;
using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.SemanticKernel.Diagnostics;
using Microsoft.Extensions.Logging;

namespace LmHead.Extensions.SemanticKernel.Services;

/// <summary>
/// A model folder that loads on first use and is shared by every service registered for it (one keyed singleton per
/// full path), disposed with the service provider.
/// </summary>
/// <remarks>
/// A load failure is cached by <see cref="Lazy{T}"/> and rethrown on every later use, so a broken folder fails the same
/// way each time instead of reloading on every request.
/// </remarks>
internal sealed class LmHeadModelHandle : IDisposable
{
    private readonly Lazy<PretrainedModel> _pretrained;

    // Orders a first load against Dispose: a request arriving after (or while) the provider is disposed must not load
    // a model nobody will dispose; it fails with ObjectDisposedException like requests on a loaded model.
    private readonly Lock _gate = new();
    private bool _disposed;

    private readonly ILogger? _logger;

    internal LmHeadModelHandle(string folder, ILogger? logger = null)
    {
        _logger = logger;
        _pretrained = new Lazy<PretrainedModel>(() => Load(folder), LazyThreadSafetyMode.ExecutionAndPublication);
        Chat = new Lazy<ChatModelMetadata?>(() => ChatModelMetadata.Load(folder, _pretrained.Value.Tokenizer), LazyThreadSafetyMode.ExecutionAndPublication);
        Generator = new Lazy<TextGenerator>(
            () => new TextGenerator(_pretrained.Value) { EndOfSequenceTokenIds = Chat.Value!.EndOfSequenceTokenIds },
            LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>The folder's chat template, BOS/EOS tokens and end ids, read with the model (see <see cref="ChatModelMetadata"/>).</summary>
    internal Lazy<ChatModelMetadata?> Chat { get; }

    /// <summary>The generator over the folder's model, created (and the model loaded) on first use.</summary>
    internal Lazy<TextGenerator> Generator { get; }

    /// <summary>Whether the model has been loaded.</summary>
    internal bool IsLoaded => _pretrained.IsValueCreated;

    /// <summary>The service key of the handle of a folder.</summary>
    internal static string KeyFor(string fullPath) => "LmHead.Extensions.Model:" + fullPath;

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            if (_pretrained.IsValueCreated)
            {
                _pretrained.Value.Dispose();
            }
        }
    }

    private PretrainedModel Load(string folder)
    {
        lock (_gate)
        {
            if (_disposed)
            {
                throw new ObjectDisposedException(
                    nameof(CausalLanguageModel), $"The service provider that owned the model folder '{folder}' has been disposed; the model is no longer available.");
            }

            long started = Stopwatch.GetTimestamp();
            var pretrained = PretrainedModel.Load(folder);
            if (_logger is not null)
            {
                var model = pretrained.Model;
                double milliseconds = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                string dtype = pretrained.Model.DType.ToString();
                string device = pretrained.Model.Device.ToString();
                LmHeadLog.ModelLoaded(_logger, folder, milliseconds, dtype, device, model.LayerCount, model.HiddenSize, model.ContextLength);
            }

            return pretrained;
        }
    }
}
