using Microsoft.ML.Transforms;

namespace LmHead.Extensions.MachineLearning;

[CustomMappingFactoryAttribute(SavedContracts.ProjectToLogitsV2)]
internal sealed class SavedProjectionV2Factory : CustomMappingFactory<SavedProjectionInput, SavedVectorOutput>
{
    public override Action<SavedProjectionInput, SavedVectorOutput> GetMapping()
    {
        SavedProjectionSlots.Slot? slot = null;
        return (input, output) =>
        {
            slot ??= SavedProjectionSlots.Get(SavedProjection.ReadId(input.Parameters));
            int received = input.Weights.GetValues().Length;
            if (received > 0)
            {
                SavedProjectionSlots.CountReceived(received);
            }

            var projector = slot.Projector;
            if (projector is null)
            {
                if (!input.Weights.IsDense)
                {
                    throw new InvalidOperationException("ProjectToLogits: the loaded model's weights did not reach the projection; the model file is corrupt.");
                }

                projector = slot.Restore(input.Parameters, input.Weights.GetValues());
            }

            if (input.Input.Length != projector.HiddenSize)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(input), input.Input.Length, $"ProjectToLogits: the hidden state has {input.Input.Length} values, expected {projector.HiddenSize} (d).");
            }

            var values = new float[projector.VocabularySize];
            TensorRows.Apply(input.Input, values, projector.Project);
            output.Output = values;
        };
    }
}
