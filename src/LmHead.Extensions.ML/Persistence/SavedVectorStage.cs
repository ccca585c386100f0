namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// Builds a saved vector stage's mapping. The stage is rebuilt once, from the first row's parameters (every row carries
/// the same ones), and shared by all cursors of the loaded transformer.
/// </summary>
internal static class SavedVectorStage
{
    public static Action<SavedStageInput, SavedVectorOutput> Create(string contract, Func<float[], (int? OutputSize, Action<float[], float[]> Apply)> restore)
    {
        var restored = new Restored(parameters => SavedParameterChecks.Restore(contract, parameters, restore));
        return (input, output) =>
        {
            var (size, apply) = restored.Get(input.Parameters);
            var values = new float[size ?? input.Input.Length];
            apply(input.Input, values);
            output.Output = values;
        };
    }

    private sealed class Restored(Func<float[], (int? OutputSize, Action<float[], float[]> Apply)> restore)
    {
        private readonly Lock _gate = new();
        private (int? OutputSize, Action<float[], float[]> Apply)? _stage;

        public (int? OutputSize, Action<float[], float[]> Apply) Get(float[] parameters)
        {
            lock (_gate)
            {
                _stage ??= restore(parameters);
                return _stage.Value;
            }
        }
    }
}
