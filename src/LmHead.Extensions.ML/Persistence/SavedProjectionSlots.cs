using System.Collections.Concurrent;
using LmHead.Extensions.Decoding;
using static TorchSharp.torch;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// The rebuilt projections of loaded models, by the id their file records. Loaded copies of one saved model share one
/// <see cref="LogitsProjector"/>; the table holds slots weakly, the loaded transforms strongly, so a slot lives as long
/// as a model that uses it.
/// </summary>
internal static class SavedProjectionSlots
{
    private static readonly ConcurrentDictionary<Guid, WeakReference<Slot>> Slots = new();

    private static long _weightValuesReceived;

    /// <summary>How many weight values saved projections have received through their rows, in this process (tests).</summary>
    internal static long WeightValuesReceived => Interlocked.Read(ref _weightValuesReceived);

    /// <summary>The ids of the saved projections alive in this process (tests).</summary>
    internal static Guid[] LiveIds() => [.. Slots.Where(pair => pair.Value.TryGetTarget(out _)).Select(pair => pair.Key)];

    /// <summary>Counts weight values that reached a saved projection.</summary>
    internal static void CountReceived(int values) => Interlocked.Add(ref _weightValuesReceived, values);

    public static Slot Get(Guid id)
    {
        while (true)
        {
            var reference = Slots.GetOrAdd(id, static _ => new WeakReference<Slot>(new Slot()));
            if (reference.TryGetTarget(out var slot))
            {
                return slot;
            }

            var fresh = new WeakReference<Slot>(new Slot());
            if (Slots.TryUpdate(id, fresh, reference) && fresh.TryGetTarget(out slot))
            {
                Prune();
                return slot;
            }
        }
    }

    private static void Prune()
    {
        foreach (var (id, reference) in Slots)
        {
            if (!reference.TryGetTarget(out _))
            {
                Slots.TryRemove(new KeyValuePair<Guid, WeakReference<Slot>>(id, reference));
            }
        }
    }

    /// <summary>One saved model's projection, set once by the first row that carries the weights.</summary>
    internal sealed class Slot
    {
        // The first rows of parallel cursors or engines race to rebuild the projection: one builds it, the others wait.
        // (A lock-free compare-and-swap let every racer build one and left the losers' weight tensors alive until a
        // finalizer ran, and held the weights once per racer meanwhile.)
        private readonly Lock _gate = new();
        private LogitsProjector? _projector;

        public LogitsProjector? Projector => Volatile.Read(ref _projector);

        public LogitsProjector Restore(float[] header, ReadOnlySpan<float> weights)
        {
            lock (_gate)
            {
                return _projector ?? Build(header, weights);
            }
        }

        private LogitsProjector Build(float[] header, ReadOnlySpan<float> weights)
        {
            var (v, d, hasBias, length) = SavedProjection.ReadHeader(header);
            if (weights.Length != length)
            {
                throw new InvalidDataException(
                    $"ProjectToLogits: the saved model holds {weights.Length} weight values, but its header (V = {v}, d = {d}, bias: {hasBias}) needs {length}; the model file is corrupt.");
            }

            using var weight = tensor(weights[..(v * d)].ToArray(), [v, d]);
            using var bias = hasBias ? tensor(weights[(v * d)..].ToArray()) : null;
            var projector = new LogitsProjector(weight, bias);
            Volatile.Write(ref _projector, projector);
            return projector;
        }
    }
}
