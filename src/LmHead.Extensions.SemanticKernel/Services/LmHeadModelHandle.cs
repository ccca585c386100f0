using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;

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
    private readonly Lazy<Gpt2Pretrained> _pretrained;

    internal LmHeadModelHandle(string folder)
    {
        _pretrained = new Lazy<Gpt2Pretrained>(() => Gpt2Pretrained.Load(folder), LazyThreadSafetyMode.ExecutionAndPublication);
        Generator = new Lazy<TextGenerator>(() => new TextGenerator(_pretrained.Value), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>The generator over the folder's model, created (and the model loaded) on first use.</summary>
    internal Lazy<TextGenerator> Generator { get; }

    /// <summary>Whether the model has been loaded.</summary>
    internal bool IsLoaded => _pretrained.IsValueCreated;

    /// <summary>The service key of the handle of a folder.</summary>
    internal static string KeyFor(string fullPath) => "LmHead.Extensions.Model:" + fullPath;

    public void Dispose()
    {
        if (_pretrained.IsValueCreated)
        {
            _pretrained.Value.Dispose();
        }
    }
}
