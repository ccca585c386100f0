using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>A lookup table with one parameter, <c>weight</c> <c>[count, size]</c> (GPT-2's <c>wte</c> and <c>wpe</c>).</summary>
internal sealed class Gpt2Embedding : nn.Module
{
    internal Gpt2Embedding(string name, int count, int size, ScalarType dtype, Device device)
        : base(name)
    {
        Weight = new Parameter(TransparentHugePages.Zeros([count, size], dtype, device), requires_grad: false);
        register_parameter("weight", Weight);
    }

    internal Parameter Weight { get; }

    /// <summary>Looks up rows for ids of any shape; the result has shape <c>[..ids, size]</c>.</summary>
    internal Tensor Forward(Tensor ids)
    {
        using var scope = NewDisposeScope();
        long[] shape = [.. ids.shape, Weight.shape[1]];
        return Weight.index_select(0, ids.reshape(-1)).view(shape).MoveToOuterDisposeScope();
    }
}
