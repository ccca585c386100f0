using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Cpu;
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

    /// <summary>A temperature on one row: managed arithmetic (the tensor stage's own), the tensor stage for NaN/+inf rows it treats specially.</summary>
    public static void Scale(TemperatureScaler scaler, float[] input, float[] output)
    {
        if (!ManagedRows.TryScale(input, scaler.Temperature, output))
        {
            Apply(input, output, scaler.Apply);
        }
    }

    /// <summary>A softmax on one row: managed in double precision, or the tensor stage (which reports NaN, +infinity and all -infinity).</summary>
    public static void Normalize(SoftmaxNormalizer normalizer, float[] input, float[] output)
    {
        if (!ManagedRows.TrySoftmax(input, output))
        {
            Apply(input, output, normalizer.Normalize);
        }
    }

    /// <summary>A top-k filter on one row: managed, or the tensor stage (which reports NaN and +infinity).</summary>
    public static void KeepTop(TopKFilter filter, float[] input, float[] output)
    {
        if (!ManagedRows.TryKeepTop(input, filter.K, output))
        {
            Apply(input, output, filter.Apply);
        }
    }
}
