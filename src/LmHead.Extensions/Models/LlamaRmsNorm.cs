using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// RMSNorm as Hugging Face's <c>LlamaRMSNorm</c>: <c>weight * x / sqrt(mean(x²) + eps)</c>, the statistics in float32
/// (or wider); one parameter, <c>weight</c> <c>[d]</c>.
/// </summary>
internal sealed class LlamaRmsNorm : nn.Module
{
    private readonly double _epsilon;

    internal LlamaRmsNorm(string name, int size, double epsilon, ScalarType dtype, Device device, bool initialise)
        : base(name)
    {
        _epsilon = epsilon;
        Weight = new Parameter(initialise ? ones(size, dtype, device) : empty(size, dtype, device), requires_grad: false);
        register_parameter("weight", Weight);
    }

    internal Parameter Weight { get; }

    /// <summary>Normalizes the last dimension of <paramref name="x"/>, returning its dtype.</summary>
    internal Tensor Forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var wide = x.dtype == ScalarType.Float64 ? x : x.to_type(ScalarType.Float32);
        var variance = wide.square().mean([-1L], keepdim: true);
        var normalized = wide.mul(variance.add(_epsilon).rsqrt()).to_type(x.dtype);
        var weight = Weight.dtype == x.dtype ? Weight : Weight.to_type(x.dtype);
        return normalized.mul(weight).MoveToOuterDisposeScope();
    }
}
