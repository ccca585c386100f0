using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LmHead.Extensions.Models;

/// <summary>
/// A Llama-family weight holder with Hugging Face's parameter names: <c>weight</c> <c>[out, in]</c> and, optionally,
/// <c>bias</c> <c>[out]</c>. Serves the projections, <c>embed_tokens</c> (rows looked up) and <c>lm_head</c>.
/// </summary>
internal sealed class LlamaLinear : Module
{
    internal LlamaLinear(string name, int outFeatures, int inFeatures, bool bias, ScalarType dtype, Device device)
        : base(name)
    {
        Weight = new Parameter(zeros(outFeatures, inFeatures, dtype, device), requires_grad: false);
        register_parameter("weight", Weight);
        if (bias)
        {
            Bias = new Parameter(zeros(outFeatures, dtype, device), requires_grad: false);
            register_parameter("bias", Bias);
        }
    }

    internal Parameter Weight { get; }

    internal Parameter? Bias { get; }

    /// <summary>
    /// <c>x W^T + b</c> in <paramref name="x"/>'s dtype; half-precision weights are widened for the call only (libtorch's
    /// CPU kernels for float16/bfloat16 are slow, so half-precision models compute in float32 on the CPU).
    /// </summary>
    internal Tensor Forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var weight = Weight.dtype == x.dtype ? Weight : Weight.to_type(x.dtype);
        var bias = Bias is null ? null : Bias.dtype == x.dtype ? Bias : Bias.to_type(x.dtype);
        return functional.linear(x, weight, bias).MoveToOuterDisposeScope();
    }

    /// <summary>Looks up rows (an embedding) for ids of any shape, in <paramref name="dtype"/>: <c>[..ids, in]</c>.</summary>
    internal Tensor Lookup(Tensor ids, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        long[] shape = [.. ids.shape, Weight.shape[1]];
        return Weight.index_select(0, ids.reshape(-1)).view(shape).to_type(dtype).MoveToOuterDisposeScope();
    }
}
