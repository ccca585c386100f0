namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// The best <c>capacity</c> entries seen so far, as a binary min-heap whose root is the worst of them (lowest key,
/// highest id on ties), so exactly <c>capacity</c> tokens survive and ties at the boundary go to the lower ids.
/// </summary>
internal sealed class BoundedMinHeap
{
    private readonly RankedEntry[] _items;

    /// <summary>Creates an empty heap.</summary>
    public BoundedMinHeap(int capacity) => _items = new RankedEntry[capacity];

    /// <summary>How many entries the heap can hold.</summary>
    public int Capacity => _items.Length;

    /// <summary>How many entries the heap holds.</summary>
    public int Count { get; private set; }

    /// <summary>Whether the heap holds <c>capacity</c> entries.</summary>
    public bool IsFull => Count == _items.Length;

    /// <summary>The worst entry held (valid when not empty).</summary>
    public RankedEntry Root => _items[0];

    /// <summary>The entries, in heap order.</summary>
    public ReadOnlySpan<RankedEntry> Items => _items.AsSpan(0, Count);

    /// <summary>Sorts the entries best first by raw logit (lower id on ties), destroying the heap order; call <see cref="Clear"/> before reuse.</summary>
    public ReadOnlySpan<RankedEntry> SortInPlace()
    {
        var entries = _items.AsSpan(0, Count);
        entries.Sort(default(RawOrder));
        return entries;
    }

    /// <summary>Empties the heap for reuse.</summary>
    public void Clear() => Count = 0;

    /// <summary>Adds an entry while the heap is not full, or replaces the root when the entry ranks above it.</summary>
    public void Offer(RankedEntry entry)
    {
        if (Count < _items.Length)
        {
            int at = Count++;
            while (at > 0)
            {
                int parent = (at - 1) >> 1;
                if (!entry.IsWorseThan(_items[parent]))
                {
                    break;
                }

                _items[at] = _items[parent];
                at = parent;
            }

            _items[at] = entry;
            return;
        }

        if (_items[0].IsWorseThan(entry))
        {
            SiftDown(entry);
        }
    }

    private void SiftDown(RankedEntry entry)
    {
        int at = 0;
        int count = Count;
        while (true)
        {
            int child = 2 * at + 1;
            if (child >= count)
            {
                break;
            }

            if (child + 1 < count && _items[child + 1].IsWorseThan(_items[child]))
            {
                child++;
            }

            if (!_items[child].IsWorseThan(entry))
            {
                break;
            }

            _items[at] = _items[child];
            at = child;
        }

        _items[at] = entry;
    }

    private readonly struct RawOrder : IComparer<RankedEntry>
    {
        public int Compare(RankedEntry a, RankedEntry b) => a.Raw != b.Raw ? b.Raw.CompareTo(a.Raw) : a.Id.CompareTo(b.Id);
    }
}
