using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace LmHead.Extensions.MachineLearning;

[CustomMappingFactoryAttribute(SavedContracts.ProjectionWeightRequest)]
internal sealed class SavedWeightRequestFactory : CustomMappingFactory<SavedRequestInput, SavedRequestOutput>
{
    public override Action<SavedRequestInput, SavedRequestOutput> GetMapping()
    {
        SavedProjectionSlots.Slot? slot = null;
        int length = 0;
        return (input, output) =>
        {
            // Every row carries the same header: read it once (the slot is published after the length, for parallel cursors).
            var current = Volatile.Read(ref slot);
            if (current is null)
            {
                (_, _, _, length) = SavedProjection.ReadHeader(input.Parameters);
                current = SavedProjectionSlots.Get(SavedProjection.ReadId(input.Parameters));
                Volatile.Write(ref slot, current);
            }

            bool request = current.Projector is null;
            for (int bit = 0; bit <= SavedProjection.MaxBit; bit++)
            {
                int size = 1 << bit;
                output.Set(bit, request && (length & size) != 0
                    ? new VBuffer<float>(size, Nans(size))
                    : new VBuffer<float>(size, 0, [], []));
            }
        };
    }

    private static float[] Nans(int size)
    {
        var values = GC.AllocateUninitializedArray<float>(size);
        values.AsSpan().Fill(float.NaN);
        return values;
    }
}
