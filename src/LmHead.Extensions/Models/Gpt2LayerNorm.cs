using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>LayerNorm over the last dimension with <c>weight</c> and <c>bias</c>, as in GPT-2's <c>ln_1</c>, <c>ln_2</c>, <c>ln_f</c>.</summary>
internal sealed class Gpt2LayerNorm : nn.Module
{
    private readonly Parameter _weight;
    private readonly Parameter _bias;
    private readonly double _epsilon;
    private readonly long[] _shape;

    internal Gpt2LayerNorm(string name, int size, double epsilon, ScalarType dtype, Device device)
        : base(name)
    {
        _weight = new Parameter(ones(size, dtype, device), requires_grad: false);
        _bias = new Parameter(zeros(size, dtype, device), requires_grad: false);
        _epsilon = epsilon;
        _shape = [size];
        register_parameter("weight", _weight);
        register_parameter("bias", _bias);
    }

    internal Tensor Weight => _weight;

    internal Tensor Bias => _bias;

    internal double Epsilon => _epsilon;

    internal Tensor Forward(Tensor x)
    {
        if (x.dtype == _weight.dtype)
        {
            return nn.functional.layer_norm(x, _shape, _weight, _bias, _epsilon);
        }

        using var weight = _weight.to_type(x.dtype);
        using var bias = _bias.to_type(x.dtype);
        return nn.functional.layer_norm(x, _shape, weight, bias, _epsilon);
    }
}
