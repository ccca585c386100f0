using LmHead.Extensions.Decoding.Cpu;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Models;

/// <summary>
/// A Llama-family weight holder with Hugging Face's parameter names: <c>weight</c> <c>[out, in]</c> and, optionally,
/// <c>bias</c> <c>[out]</c>. Serves the projections, <c>embed_tokens</c> (rows looked up) and <c>lm_head</c>.
/// </summary>
internal sealed class LlamaLinear : Module
{
    // initialise: zeros when true; uninitialised memory when false (a loader that overwrites every value next).
    internal LlamaLinear(string name, int outFeatures, int inFeatures, bool bias, ScalarType dtype, Device device, bool initialise)
        : base(name)
    {
        Weight = new Parameter(initialise ? zeros(outFeatures, inFeatures, dtype, device) : empty(outFeatures, inFeatures, dtype, device), requires_grad: false);
        register_parameter("weight", Weight);
        if (bias)
        {
            Bias = new Parameter(initialise ? zeros(outFeatures, dtype, device) : empty(outFeatures, dtype, device), requires_grad: false);
            register_parameter("bias", Bias);
        }
    }

    internal Parameter Weight { get; }

    /// <summary>What float16 weights hold (infinities, NaNs, subnormals), scanned once per version, for the managed kernel.</summary>
    internal Float16WeightScan Scan => _scan ??= new Float16WeightScan(Weight);

    private Float16WeightScan? _scan;

    internal Parameter? Bias { get; }

    /// <summary>
    /// <c>x W^T + b</c> in <paramref name="x"/>'s dtype. On the CPU, a float32 <paramref name="x"/> of at most
    /// <see cref="ManagedRowLimit"/> rows (decoding) takes the managed SIMD kernel, which reads every weight once in its
    /// own dtype; otherwise libtorch runs, with half-precision weights widened for the call only (libtorch's CPU kernels
    /// for float16/bfloat16 are slow, so half-precision models compute in float32 on the CPU).
    /// </summary>
    internal Tensor Forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long inputs = Weight.shape[1], rows = x.NumberOfElements / inputs;
        if (rows <= ManagedRowLimit && x.dtype == ScalarType.Float32 && Weight.device.type == DeviceType.CPU
            && Format(Weight.dtype) is { } format && (Bias is null || Bias.dtype == Weight.dtype))
        {
            return Multiply(x.contiguous(), format, rows).MoveToOuterDisposeScope();
        }

        var weight = Weight.dtype == x.dtype ? Weight : Weight.to_type(x.dtype);
        var bias = Bias is null ? null : Bias.dtype == x.dtype ? Bias : Bias.to_type(x.dtype);
        return functional.linear(x, weight, bias).MoveToOuterDisposeScope();
    }

    /// <summary>The most rows of <c>x</c> that take the managed kernel: decode steps of a few sequences, not prompts.</summary>
    internal const int ManagedRowLimit = 16;

    private unsafe Tensor Multiply(Tensor x, WeightFormat format, long rows)
    {
        int outputs = (int)Weight.shape[0], inputs = (int)Weight.shape[1];
        var y = empty([.. x.shape[..^1], outputs], ScalarType.Float32, x.device);
        nint bias = Bias is null ? 0 : (nint)Gpt2DecodeStep.Address(Bias);
        BatchedMatrixKernel.Multiply(
            (nint)Gpt2DecodeStep.Address(Weight), format, outputs, inputs, (float*)Gpt2DecodeStep.Address(x), (int)rows, bias, (float*)Gpt2DecodeStep.Address(y),
            facts: format == WeightFormat.Float16 ? Scan.Current() : default);
        return y;
    }

    private static WeightFormat? Format(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => WeightFormat.Float32,
        ScalarType.Float16 => WeightFormat.Float16,
        ScalarType.BFloat16 => WeightFormat.BFloat16,
        _ => null,
    };

    /// <summary>Looks up rows (an embedding) for ids of any shape, in <paramref name="dtype"/>: <c>[..ids, in]</c>.</summary>
    internal Tensor Lookup(Tensor ids, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        long[] shape = [.. ids.shape, Weight.shape[1]];
        return Weight.index_select(0, ids.reshape(-1)).view(shape).to_type(dtype).MoveToOuterDisposeScope();
    }
}
