using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// The keys and values of every attention layer for the tokens a <see cref="CausalLanguageModel"/> has already seen, so
/// each new token costs one step instead of a full recompute. Create one per sequence (or batch) with
/// <see cref="CausalLanguageModel.CreateKvCache"/>, pass it to every forward call of that model in order, and dispose it:
/// it owns its tensors. Keys and values live in storage allocated for many positions at once (doubling when full, so a
/// generation of n tokens copies O(n) positions in all, never the whole cache per step as concatenation would), which
/// both the torch forward pass and the managed decode steps write in place. Not thread-safe.
/// </summary>
public abstract class KvCache : IDisposable
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

    /// <summary>Creates an empty cache; only this assembly's models derive from it.</summary>
    private protected KvCache(int layers, int keyValueHeads, int headSize, int maxLength, ScalarType dtype, Device device)
    {
        _keys = new Tensor?[layers];
        _values = new Tensor?[layers];
        _heads = keyValueHeads;
        _headSize = headSize;
        _dtype = dtype;
        _device = device;
        MaxLength = maxLength;
    }

    /// <summary>How many positions (including left padding) the cache holds.</summary>
    public int Length { get; private set; }

    /// <summary>The most positions the model accepts (its context length).</summary>
    public int MaxLength { get; }

    /// <summary>The batch size fixed by the first forward call, or <see langword="null"/> while the cache is empty.</summary>
    public int? BatchSize { get; private set; }

    /// <summary>How many positions the allocated storage holds before it must grow.</summary>
    internal int Capacity { get; private set; }

    /// <summary>How many attention layers the cache holds keys and values for.</summary>
    internal int LayerCount => _keys.Length;

    /// <summary>The dtype of the stored keys and values (the model's).</summary>
    internal ScalarType DType => _dtype;

    internal Tensor? Padding => _padding;

    internal long[]? RealCounts => _realCounts;

    /// <summary>A layer's key storage, <c>[B, H_kv, Capacity, hd]</c>, contiguous; valid until the next <see cref="Reserve"/>.</summary>
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
        // Uninitialised rather than zeroed (4.7 MB per new GPT-2-small request, 4-6 % of a batched step's samples): no
        // reader looks past the positions written. The torch path (Append) returns views of [0, Length + T) after writing
        // [Length, Length + T); the managed steps (Gpt2CachedAttention, LlamaStepAttention) store a step's keys and values
        // at Length + t before attending, and attend to Length + t + 1 positions; Grow copies [0, Length). Left padding is
        // written like any position (and masked). KvCacheTests poisons every position past Length with NaN between calls.
        var grown = empty([batch, _heads, capacity, _headSize], _dtype, _device).DetachFromDisposeScope();
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

    /// <summary>
    /// The position of every new token (counting real tokens only, so a left-padded row matches its unpadded run), the
    /// padding of every held and new position (or <see langword="null"/> without padding) and each row's real-token count
    /// after the call.
    /// </summary>
    internal static (Tensor Positions, Tensor? Padding, long[] RealCounts) PositionsAndPadding(
        int batch, int time, int past, KvCache? cache, Tensor? attentionMask, Device device)
    {
        long[] before = cache?.RealCounts ?? new long[batch];
        if (attentionMask is null)
        {
            // Built in managed code: one tensor, no scalar arithmetic. Tensor + tensor with TorchSharp's implicit alpha
            // failed once in CI under concurrent requests on two models ("alpha must not be a floating point number").
            long[] flat = new long[batch * time];
            for (int b = 0; b < batch; b++)
            {
                for (int t = 0; t < time; t++)
                {
                    flat[(b * time) + t] = before[b] + t;
                }
            }

            var positions = tensor(flat, device: device).view(batch, time);
            var padding = cache?.Padding is { } pastPadding ? cat([pastPadding, zeros(batch, time, ScalarType.Bool, device)], 1) : null;
            return (positions, padding, [.. before.Select(c => c + time)]);
        }

        if (attentionMask.dim() != 2 || attentionMask.shape[0] != batch || attentionMask.shape[1] != time)
        {
            throw new ArgumentException(
                $"attentionMask must have shape [{batch}, {time}] like inputIds, but has shape [{string.Join(", ", attentionMask.shape)}].", nameof(attentionMask));
        }

        var offset = tensor(before, device: device).unsqueeze(1);
        var real = attentionMask.to(ScalarType.Int64, device).ne(0);
        var realLong = real.to_type(ScalarType.Int64);
        var maskedPositions = (offset + realLong.cumsum(1) - 1).clamp_min(0);
        var newPadding = real.logical_not();
        var allPadding = past == 0 ? newPadding
            : cat([cache!.Padding ?? zeros(batch, past, ScalarType.Bool, device), newPadding], 1);
        long[] added = realLong.sum(1).cpu().data<long>().ToArray();
        return (maskedPositions, allPadding, [.. before.Select((c, i) => c + added[i])]);
    }

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Releases every cached tensor.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases every cached tensor.</summary>
    /// <param name="disposing">Whether this is a call to <see cref="Dispose()"/>.</param>
    protected virtual void Dispose(bool disposing)
    {
        if (!disposing)
        {
            return;
        }

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
