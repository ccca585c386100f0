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
    // Per layer, storage [B, H, capacity, hd] whose first Length positions are valid. The capacity doubles when it runs
    // out (up to n_positions), so appending a token writes one slot instead of copying every cached position again.
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

    /// <summary>
    /// Grow the storage to exactly the positions needed on every call: the former concatenating cache (every cached
    /// position copied again per token), kept so the benchmarks can compare both policies in one run.
    /// </summary>
    internal bool GrowsExactly { get; set; }

    internal Tensor? Padding => _padding;

    internal long[]? RealCounts => _realCounts;

    /// <summary>
    /// Appends a layer's new keys and values <c>[B, H, T, hd]</c> after the <see cref="Length"/> committed positions;
    /// returns views of all of them (the caller's dispose scope owns the views, the cache the storage).
    /// </summary>
    internal (Tensor Key, Tensor Value) Append(int layer, Tensor key, Tensor value)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int length = Length + (int)key.shape[2];
        return (Write(ref _keys[layer], key, length), Write(ref _values[layer], value, length));
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

    private Tensor Write(ref Tensor? storage, Tensor added, int length)
    {
        long capacity = storage?.shape[2] ?? 0;
        if (length > capacity)
        {
            long grown = GrowsExactly ? length : Math.Min(MaxLength, Math.Max(length, 2 * capacity));
            var larger = empty([added.shape[0], added.shape[1], grown, added.shape[3]], added.dtype, added.device);
            // The cache outlives the caller's dispose scope; it releases the storage itself when it grows or is disposed.
            larger.DetachFromDisposeScope();
            if (storage is not null)
            {
                using var kept = larger.narrow(2, 0, Length);
                using var old = storage.narrow(2, 0, Length);
                kept.copy_(old);
                storage.Dispose();
            }

            storage = larger;
        }

        var current = storage!;
        using (var slot = current.narrow(2, Length, added.shape[2]))
        {
            slot.copy_(added);
        }

        return current.narrow(2, 0, length);
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
