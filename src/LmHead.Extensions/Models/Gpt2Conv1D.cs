using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// Hugging Face's <c>Conv1D</c>: an affine map whose weight is stored <c>[in, out]</c> (transposed relative to
/// <c>nn.Linear</c>), so <c>y = x · W + b</c>. Keeping the checkpoint's layout means loading and saving copy bytes as is.
/// </summary>
internal sealed class Gpt2Conv1D : nn.Module
{
    private readonly Parameter _weight;
    private readonly Parameter _bias;

    internal Gpt2Conv1D(string name, int inFeatures, int outFeatures, ScalarType dtype, Device device)
        : base(name)
    {
        _weight = new Parameter(zeros(inFeatures, outFeatures, dtype, device), requires_grad: false);
        _bias = new Parameter(zeros(outFeatures, dtype, device), requires_grad: false);
        register_parameter("weight", _weight);
        register_parameter("bias", _bias);
    }

    internal Tensor Forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long inFeatures = _weight.shape[0];
        long outFeatures = _weight.shape[1];
        var flat = x.reshape(-1, inFeatures);
        var y = addmm(_bias, flat, _weight, 1, 1);
        long[] shape = [.. x.shape[..^1], outFeatures];
        return y.view(shape).MoveToOuterDisposeScope();
    }
}
