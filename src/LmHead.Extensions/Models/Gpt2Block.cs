using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>One pre-LayerNorm transformer block: <c>x + attn(ln_1(x))</c>, then <c>x + mlp(ln_2(x))</c>.</summary>
internal sealed class Gpt2Block : nn.Module
{
    private readonly Gpt2LayerNorm _ln1;
    private readonly Gpt2Attention _attn;
    private readonly Gpt2LayerNorm _ln2;
    private readonly Gpt2Mlp _mlp;

    internal Gpt2Block(string name, Gpt2Config config, ScalarType dtype, Device device)
        : base(name)
    {
        _ln1 = new Gpt2LayerNorm("ln_1", config.HiddenSize, config.LayerNormEpsilon, dtype, device);
        _attn = new Gpt2Attention("attn", config, dtype, device);
        _ln2 = new Gpt2LayerNorm("ln_2", config.HiddenSize, config.LayerNormEpsilon, dtype, device);
        _mlp = new Gpt2Mlp("mlp", config, dtype, device);
        register_module("ln_1", _ln1);
        register_module("attn", _attn);
        register_module("ln_2", _ln2);
        register_module("mlp", _mlp);
    }

    internal Gpt2LayerNorm Norm1 => _ln1;

    internal Gpt2Attention Attention => _attn;

    internal Gpt2LayerNorm Norm2 => _ln2;

    internal Gpt2Mlp Mlp => _mlp;

    internal Tensor Forward(Tensor x, Tensor blocked, Gpt2KvCache? cache, int layer)
    {
        using var scope = NewDisposeScope();
        var h = x + _attn.Forward(_ln1.Forward(x), blocked, cache, layer);
        return (h + _mlp.Forward(_ln2.Forward(h))).MoveToOuterDisposeScope();
    }
}
