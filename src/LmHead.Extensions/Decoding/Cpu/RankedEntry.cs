namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>One token held by a <see cref="BoundedMinHeap"/>: the value it is ranked by, its raw logit and its id.</summary>
/// <param name="Key">The value the heap ranks by (higher is better; ties go to the lower id).</param>
/// <param name="Raw">The raw logit, used as a SIMD pre-filter threshold: a raw value not above it cannot rank higher.</param>
/// <param name="Id">The token id.</param>
internal readonly record struct RankedEntry(float Key, float Raw, int Id)
{
    /// <summary>Whether this entry ranks below <paramref name="other"/>: a lower key, or an equal key and a higher id.</summary>
    public bool IsWorseThan(RankedEntry other) => Key < other.Key || (Key == other.Key && Id > other.Id);
}
