using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// The keys and values of every attention layer for the tokens a <see cref="Gpt2Model"/> has already seen, so each new
/// token costs one step instead of a full recompute. Create one per sequence (or batch) with
/// <see cref="Gpt2Model.CreateKvCache"/>, pass it to every forward call in order, and dispose it: it owns its tensors.
/// Not thread-safe.
/// </summary>
public sealed class Gpt2KvCache : IDisposable
{
    private readonly Tensor?[] _keys;
    private readonly Tensor?[] _values;
    private Tensor? _padding;
    private long[]? _realCounts;
    private bool _disposed;

    internal Gpt2KvCache(Gpt2Config config)
    {
        _keys = new Tensor?[config.LayerCount];
        _values = new Tensor?[config.LayerCount];
        MaxLength = config.MaxPositions;
    }

    /// <summary>How many positions (including left padding) the cache holds.</summary>
    public int Length { get; private set; }

    /// <summary>The most positions the model accepts (<c>n_positions</c>).</summary>
    public int MaxLength { get; }

    /// <summary>The batch size fixed by the first forward call, or <see langword="null"/> while the cache is empty.</summary>
    public int? BatchSize { get; private set; }

    internal Tensor? Padding => _padding;

    internal long[]? RealCounts => _realCounts;

    /// <summary>Appends a layer's new keys and values <c>[B, H, T, hd]</c>; returns the full ones (owned by the cache).</summary>
    internal (Tensor Key, Tensor Value) Append(int layer, Tensor key, Tensor value)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _keys[layer] = Replace(_keys[layer], key);
        _values[layer] = Replace(_values[layer], value);
        return (_keys[layer]!, _values[layer]!);
    }

    /// <summary>Records that a forward call of <paramref name="count"/> positions finished.</summary>
    internal void Commit(int count, int batch, Tensor? padding, long[] realCounts)
    {
        Length += count;
        BatchSize = batch;
        _realCounts = realCounts;
        if (padding is not null)
        {
            var old = _padding;
            _padding = padding.detach().DetachFromDisposeScope();
            old?.Dispose();
        }
    }

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private static Tensor Replace(Tensor? old, Tensor added)
    {
        var combined = old is null ? added.contiguous() : cat([old, added], 2);
        // The cache outlives the caller's dispose scope; it releases the tensor itself when replaced or disposed.
        var owned = ReferenceEquals(combined, added) ? added.alias() : combined;
        owned.DetachFromDisposeScope();
        old?.Dispose();
        return owned;
    }

    /// <summary>Releases every cached tensor.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var t in _keys.Concat(_values))
        {
            t?.Dispose();
        }

        _padding?.Dispose();
    }
}
