using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>The SwiGLU MLP of a Llama-family layer: <c>down_proj(silu(gate_proj(x)) * up_proj(x))</c>, no biases.</summary>
internal sealed class LlamaMlp : nn.Module
{
    internal LlamaMlp(string name, LlamaConfig config, ScalarType dtype, Device device, bool initialise)
        : base(name)
    {
        Gate = new LlamaLinear("gate_proj", config.IntermediateSize, config.HiddenSize, false, dtype, device, initialise);
        Up = new LlamaLinear("up_proj", config.IntermediateSize, config.HiddenSize, false, dtype, device, initialise);
        Down = new LlamaLinear("down_proj", config.HiddenSize, config.IntermediateSize, false, dtype, device, initialise);
        register_module("gate_proj", Gate);
        register_module("up_proj", Up);
        register_module("down_proj", Down);
    }

    internal LlamaLinear Gate { get; }

    internal LlamaLinear Up { get; }

    internal LlamaLinear Down { get; }

    internal Tensor Forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var gated = nn.functional.silu(Gate.Forward(x)).mul(Up.Forward(x));
        return Down.Forward(gated).MoveToOuterDisposeScope();
    }
}
