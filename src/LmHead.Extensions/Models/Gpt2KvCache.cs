using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// The keys and values of every attention layer for the tokens a <see cref="Gpt2Model"/> has already seen, so each new
/// token costs one step instead of a full recompute. Create one per sequence (or batch) with
/// <see cref="Gpt2Model.CreateKvCache"/>, pass it to every forward call in order, and dispose it: it owns its tensors. Keys and values live in storage allocated
/// for many positions at once (doubling when full), which both the torch forward pass and the managed decode step write in place.
/// Not thread-safe.
/// </summary>
public sealed class Gpt2KvCache : IDisposable
{
    /// <summary>The first allocation, in positions; every later one doubles the capacity (up to <see cref="MaxLength"/>).</summary>
    private const int InitialCapacity = 64;

    private readonly Tensor?[] _keys;
    private readonly Tensor?[] _values;
    private readonly int _heads;
    private readonly int _headSize;
    private readonly ScalarType _dtype;
    private readonly Device _device;
    private Tensor? _padding;
    private long[]? _realCounts;
    private bool _disposed;

    internal Gpt2KvCache(Gpt2Config config, ScalarType dtype, Device device)
    {
        _keys = new Tensor?[config.LayerCount];
        _values = new Tensor?[config.LayerCount];
        _heads = config.HeadCount;
        _headSize = config.HeadSize;
        _dtype = dtype;
        _device = device;
        MaxLength = config.MaxPositions;
    }

    /// <summary>How many positions (including left padding) the cache holds.</summary>
    public int Length { get; private set; }

    /// <summary>The most positions the model accepts (<c>n_positions</c>).</summary>
    public int MaxLength { get; }

    /// <summary>The batch size fixed by the first forward call, or <see langword="null"/> while the cache is empty.</summary>
    public int? BatchSize { get; private set; }

    /// <summary>How many positions the allocated storage holds before it must grow.</summary>
    internal int Capacity { get; private set; }

    /// <summary>The dtype of the stored keys and values (the model's).</summary>
    internal ScalarType DType => _dtype;

    internal Tensor? Padding => _padding;

    internal long[]? RealCounts => _realCounts;

    /// <summary>A layer's key storage, <c>[B, H, Capacity, hd]</c>, contiguous; valid until the next <see cref="Reserve"/>.</summary>
    internal Tensor Keys(int layer) => _keys[layer] ?? throw new InvalidOperationException("The cache holds no storage yet.");

    /// <summary>A layer's value storage, laid out like <see cref="Keys"/>.</summary>
    internal Tensor Values(int layer) => _values[layer] ?? throw new InvalidOperationException("The cache holds no storage yet.");

    /// <summary>
    /// Writes a layer's new keys and values <c>[B, H, T, hd]</c> after the cached positions; returns views of all of them
    /// (<c>[B, H, Length + T, hd]</c>, in the caller's dispose scope; the storage stays the cache's).
    /// </summary>
    internal (Tensor Key, Tensor Value) Append(int layer, Tensor key, Tensor value)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int time = (int)key.shape[2];
        Reserve((int)key.shape[0], Length + time);
        using (var slot = _keys[layer]!.narrow(2, Length, time))
        {
            slot.copy_(key);
        }

        using (var slot = _values[layer]!.narrow(2, Length, time))
        {
            slot.copy_(value);
        }

        return (_keys[layer]!.narrow(2, 0, Length + time), _values[layer]!.narrow(2, 0, Length + time));
    }

    /// <summary>
    /// Makes room for <paramref name="length"/> positions of <paramref name="batch"/> rows in every layer. Storage grows by
    /// doubling (copying the held positions once), so a generation of n tokens copies O(n) positions in all, never the
    /// whole cache per step as concatenation would.
    /// </summary>
    internal void Reserve(int batch, int length)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_keys[0] is not null && length <= Capacity)
        {
            return;
        }

        int capacity = Math.Min(MaxLength, Math.Max(length, Math.Max(InitialCapacity, 2 * Capacity)));
        for (int layer = 0; layer < _keys.Length; layer++)
        {
            _keys[layer] = Grow(_keys[layer], batch, capacity);
            _values[layer] = Grow(_values[layer], batch, capacity);
        }

        Capacity = capacity;
    }

    private Tensor Grow(Tensor? old, int batch, int capacity)
    {
        // The storage outlives the caller's dispose scope; the cache releases it when it grows again or is disposed.
        var grown = zeros([batch, _heads, capacity, _headSize], _dtype, _device).DetachFromDisposeScope();
        if (old is not null)
        {
            using var held = old.narrow(2, 0, Length);
            using var target = grown.narrow(2, 0, Length);
            target.copy_(held);
            old.Dispose();
        }

        return grown;
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

    /// <summary>
    /// Forgets every position from <paramref name="length"/> on (the next step overwrites them), for a cache without left
    /// padding; benchmarks repeat a step at one position with it.
    /// </summary>
    internal void Rewind(int length)
    {
        if (_padding is not null || length < 0 || length > Length)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, $"A cache without padding can be rewound to [0, {Length}].");
        }

        Length = length;
        _realCounts = _realCounts is null ? null : [.. _realCounts.Select(_ => (long)length)];
    }

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

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
