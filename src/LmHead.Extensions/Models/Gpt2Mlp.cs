using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>GPT-2's feed-forward block: <c>c_proj(gelu_new(c_fc(x)))</c>.</summary>
internal sealed class Gpt2Mlp : nn.Module
{
    private static readonly double Sqrt2OverPi = Math.Sqrt(2.0 / Math.PI);
    private readonly Gpt2Conv1D _fc;
    private readonly Gpt2Conv1D _proj;

    internal Gpt2Mlp(string name, Gpt2Config config, ScalarType dtype, Device device)
        : base(name)
    {
        _fc = new Gpt2Conv1D("c_fc", config.HiddenSize, config.EffectiveInnerSize, dtype, device);
        _proj = new Gpt2Conv1D("c_proj", config.EffectiveInnerSize, config.HiddenSize, dtype, device);
        register_module("c_fc", _fc);
        register_module("c_proj", _proj);
    }

    internal Gpt2Conv1D Expansion => _fc;

    internal Gpt2Conv1D Projection => _proj;

    internal Tensor Forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return _proj.Forward(GeluNew(_fc.Forward(x))).MoveToOuterDisposeScope();
    }

    /// <summary><c>0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))</c>, exactly as Hugging Face's <c>NewGELUActivation</c>.</summary>
    internal static Tensor GeluNew(Tensor x)
    {
        using var scope = NewDisposeScope();
        var inner = (x + 0.044715 * x.pow(3.0)) * Sqrt2OverPi;
        return (0.5 * x * (1.0 + inner.tanh())).MoveToOuterDisposeScope();
    }
}
