using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>A Llama-family decoder layer: <c>x + attn(norm(x))</c>, then <c>x + mlp(norm(x))</c> (pre-RMSNorm).</summary>
internal sealed class LlamaLayer : nn.Module
{
    internal LlamaLayer(string name, LlamaConfig config, ScalarType dtype, Device device, bool initialise)
        : base(name)
    {
        InputNorm = new LlamaRmsNorm("input_layernorm", config.HiddenSize, config.RmsNormEpsilon, dtype, device, initialise);
        Attention = new LlamaAttention("self_attn", config, dtype, device, initialise);
        PostAttentionNorm = new LlamaRmsNorm("post_attention_layernorm", config.HiddenSize, config.RmsNormEpsilon, dtype, device, initialise);
        Mlp = new LlamaMlp("mlp", config, dtype, device, initialise);
        register_module("input_layernorm", InputNorm);
        register_module("self_attn", Attention);
        register_module("post_attention_layernorm", PostAttentionNorm);
        register_module("mlp", Mlp);
    }

    internal LlamaRmsNorm InputNorm { get; }

    internal LlamaAttention Attention { get; }

    internal LlamaRmsNorm PostAttentionNorm { get; }

    internal LlamaMlp Mlp { get; }

    internal Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor blocked, KvCache? cache, int layer)
    {
        using var scope = NewDisposeScope();
        var h = x.add(Attention.Forward(InputNorm.Forward(x), cos, sin, blocked, cache, layer));
        return h.add(Mlp.Forward(PostAttentionNorm.Forward(h))).MoveToOuterDisposeScope();
    }
}
