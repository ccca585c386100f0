using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// Hugging Face's <c>Conv1D</c>: an affine map whose weight is <c>[in, out]</c> (transposed relative to <c>nn.Linear</c>),
/// so <c>y = x · W + b</c>. The parameter keeps the checkpoint's shape and names, but its memory is laid out
/// <c>[out, in]</c> (the parameter is the transpose of a contiguous <see cref="RowMajorWeight"/>): the decode kernels
/// then read each output's weights as one contiguous row, and libtorch multiplies by a transposed operand at no cost.
/// Loading, training and saving go through <c>copy_</c>, in-place updates and <c>contiguous()</c>, which honour strides.
/// </summary>
internal sealed class Gpt2Conv1D : nn.Module
{
    private readonly Parameter _weight;
    private readonly Parameter _bias;

    internal Gpt2Conv1D(string name, int inFeatures, int outFeatures, ScalarType dtype, Device device)
        : base(name)
    {
        RowMajorWeight = TransparentHugePages.Zeros([outFeatures, inFeatures], dtype, device);
        _weight = new Parameter(RowMajorWeight.t(), requires_grad: false);
        _bias = new Parameter(zeros(outFeatures, dtype, device), requires_grad: false);
        register_parameter("weight", _weight);
        register_parameter("bias", _bias);
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
    }

    /// <summary>The weight's memory as a contiguous <c>[out, in]</c> tensor (the parameter is its transpose).</summary>
    internal Tensor RowMajorWeight { get; }

    /// <summary>The bias, <c>[out]</c>.</summary>
    internal Tensor Bias => _bias;

    internal int InFeatures { get; }

    internal int OutFeatures { get; }

    internal Tensor Forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var flat = x.reshape(-1, InFeatures);
        // Activations may be wider than the weights (float32 for a half-precision model on the CPU): widen the weights.
        // Widening the contiguous [out, in] storage is one vectorised pass; widening the strided parameter is not.
        var y = flat.dtype == _weight.dtype ? addmm(_bias, flat, _weight, 1, 1) : addmm(_bias.to_type(flat.dtype), flat, RowMajorWeight.to_type(flat.dtype).t(), 1, 1);
        long[] shape = [.. x.shape[..^1], OutFeatures];
        return y.view(shape).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            RowMajorWeight.Dispose();
        }

        base.Dispose(disposing);
    }
}
