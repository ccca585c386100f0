using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.MachineLearning;

/// <summary>Runs a tensor stage on one row held in a managed array, disposing every tensor it makes.</summary>
internal static class TensorRows
{
    /// <summary>Copies <paramref name="input"/> into a tensor, applies <paramref name="stage"/>, and copies the float32 result to <paramref name="output"/>.</summary>
    public static void Apply(float[] input, float[] output, Func<Tensor, Tensor> stage)
    {
        using var scope = NewDisposeScope();
        var result = stage(tensor(input)).to_type(ScalarType.Float32).cpu();
        result.data<float>().CopyTo(output);
    }
}
