using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LmHead.Extensions.Decoding.Cpu;
using TorchSharp;
using static TorchSharp.torch;
using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Models;

/// <summary>
/// A GPT-2 forward step for one new token per sequence, in managed code on the CPU: every linear layer by
/// <see cref="BatchedMatrixKernel"/> (each weight read once per step for all sequences, widened in registers when it is
/// float16 or bfloat16), LayerNorm, <c>gelu_new</c>, residuals and attention over the cache on float32 activations
/// (<see cref="Gpt2DecodeKernels"/>). Keys and values are written straight into the caches' storage, in the model's dtype.
/// No libtorch compute op runs during a step, so libtorch's OpenMP workers never compete with the kernel's threads.
/// </summary>
/// <remarks>
/// Every per-sequence computation (embedding, LayerNorm, attention, <c>gelu_new</c>) reads only that sequence's row, and
/// the linear layers are batch-invariant, so a sequence's hidden state is bit-identical alone or in any batch.
/// Holds the addresses of the model's parameters: use it only under <see cref="CausalLanguageModel.EnterUse"/>.
/// </remarks>
internal sealed unsafe class Gpt2DecodeStep
{
    private readonly LayerWeights[] _layers;
    private readonly byte* _tokenEmbedding;
    private readonly byte* _positionEmbedding;
    private readonly byte* _finalWeight;
    private readonly byte* _finalBias;
    private readonly double _finalEpsilon;
    private readonly WeightFormat _format;
    private readonly int _hidden;
    private readonly int _inner;
    private readonly int _heads;
    private readonly int _headSize;

    private Gpt2DecodeStep(Gpt2Transformer transformer, Gpt2Config config, WeightFormat format)
    {
        _format = format;
        _hidden = config.HiddenSize;
        _inner = config.EffectiveInnerSize;
        _heads = config.HeadCount;
        _headSize = config.HeadSize;
        _tokenEmbedding = Address(transformer.TokenEmbedding.Weight);
        _positionEmbedding = Address(transformer.PositionEmbedding.Weight);
        _finalWeight = Address(transformer.FinalNorm.Weight);
        _finalBias = Address(transformer.FinalNorm.Bias);
        _finalEpsilon = transformer.FinalNorm.Epsilon;
        _layers = [.. transformer.Blocks.Blocks.Select(block => new LayerWeights(block))];
    }

    /// <summary>
    /// One sequence of a step: the cache that holds it, its row in that cache, and its new tokens (one when decoding, a
    /// prompt chunk when prefilling; only a single-sequence cache takes more than one).
    /// </summary>
    internal readonly record struct Sequence(Gpt2KvCache Cache, int Row, int[] Tokens);

    /// <summary>The step for a model on the CPU in float32, float16 or bfloat16 with AVX2 and FMA; otherwise null (the torch path).</summary>
    internal static Gpt2DecodeStep? TryCreate(Gpt2Transformer transformer, Gpt2Config config, ScalarType dtype, Device device)
    {
        if (device.type != DeviceType.CPU || !MatrixVectorKernel.IsAccelerated)
        {
            return null;
        }

        WeightFormat? format = dtype switch
        {
            ScalarType.Float32 => WeightFormat.Float32,
            ScalarType.Float16 => WeightFormat.Float16,
            ScalarType.BFloat16 => WeightFormat.BFloat16,
            _ => null,
        };
        return format is { } f ? new Gpt2DecodeStep(transformer, config, f) : null;
    }

    /// <summary>
    /// Runs the step for every sequence and writes the last hidden state (after <c>ln_f</c>) of sequence i's last new token
    /// to row <c>outputRows[i]</c> of <paramref name="output"/> (<c>[N, d]</c>, contiguous, the model's dtype). The caller
    /// has validated the tokens and positions, reserved room for the new positions in every cache, and commits the caches after.
    /// </summary>
    /// <remarks>
    /// Every new token is one row of the step's activations (a prompt chunk of L tokens is L rows), so the weights are read
    /// once for every decoding and prefilling sequence together; row j of a chunk attends over the cache and the chunk's
    /// rows before it (causal).
    /// </remarks>
    internal void Run(IReadOnlyList<Sequence> sequences, Tensor output, IReadOnlyList<int> outputRows)
    {
        int batch = sequences.Sum(s => s.Tokens.Length), d = _hidden;
        var attention = new Gpt2CachedAttention(sequences, _heads, _headSize, _format);
        long floats = (long)batch * ((7L * d) + _inner);
        // 64-byte aligned (and every row a multiple of 64 bytes for n_embd a multiple of 16): the 64-byte kernels' loads of
        // X then never straddle two cache lines.
        float* buffer = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
        try
        {
            float* x = buffer, h = x + (batch * d), context = h + (batch * d), update = context + (batch * d), qkv = update + (batch * d), inner = qkv + (3L * batch * d);
            Embed(sequences, attention, x);
            for (int layer = 0; layer < _layers.Length; layer++)
            {
                var w = _layers[layer];
                Normalize(x, h, batch, w.Norm1);
                Linear(w.QueryKeyValue, h, batch, qkv);
                attention.Run(layer, qkv, context);
                Linear(w.Projection, context, batch, update);
                Gpt2DecodeKernels.AddInPlace(x, update, batch * d);
                Normalize(x, h, batch, w.Norm2);
                Linear(w.Expansion, h, batch, inner);
                Gpt2DecodeKernels.GeluNew(inner, batch * _inner);
                Linear(w.Contraction, inner, batch, update);
                Gpt2DecodeKernels.AddInPlace(x, update, batch * d);
            }

            var final = new NormWeights(_finalWeight, _finalBias, _finalEpsilon);
            byte* target = Address(output);
            for (int i = 0; i < sequences.Count; i++)
            {
                long last = (long)(attention.FirstRow(i) + sequences[i].Tokens.Length - 1) * d;
                Gpt2DecodeKernels.LayerNorm(x + last, h, d, final.Weight, final.Bias, _format, final.Epsilon);
                Gpt2DecodeKernels.Store(h, target + ((long)outputRows[i] * d * ElementSize), d, _format);
            }
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    private void Embed(IReadOnlyList<Sequence> sequences, Gpt2CachedAttention attention, float* x)
    {
        for (int i = 0; i < sequences.Count; i++)
        {
            int[] tokens = sequences[i].Tokens;
            for (int t = 0; t < tokens.Length; t++)
            {
                float* row = x + ((long)(attention.FirstRow(i) + t) * _hidden);
                long token = (long)tokens[t] * _hidden, position = (attention.Position(i) + t) * _hidden;
                Gpt2DecodeKernels.AddElements(_tokenEmbedding + (token * ElementSize), _positionEmbedding + (position * ElementSize), row, _hidden, _format);
            }
        }
    }

    private void Normalize(float* x, float* y, int batch, NormWeights norm)
    {
        for (int i = 0; i < batch; i++)
        {
            Gpt2DecodeKernels.LayerNorm(x + ((long)i * _hidden), y + ((long)i * _hidden), _hidden, norm.Weight, norm.Bias, _format, norm.Epsilon);
        }
    }

    private void Linear(LinearWeights layer, float* input, int batch, float* output) =>
        BatchedMatrixKernel.Multiply(
            (nint)layer.Weight, _format, layer.Outputs, layer.Inputs, input, batch, (nint)layer.Bias, output, facts: _format == WeightFormat.Float16 ? layer.Scan.Current() : default);

    private int ElementSize => _format == WeightFormat.Float32 ? sizeof(float) : sizeof(ushort);

    /// <summary>The address of a contiguous CPU tensor's first element; valid while the tensor lives and is not resized.</summary>
    internal static byte* Address(Tensor tensor)
    {
        if (!tensor.is_contiguous())
        {
            throw new InvalidOperationException("The managed decode step needs contiguous tensors.");
        }

        return (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(tensor.bytes));
    }

    private readonly struct NormWeights(byte* weight, byte* bias, double epsilon)
    {
        internal NormWeights(Gpt2LayerNorm norm)
            : this(Address(norm.Weight), Address(norm.Bias), norm.Epsilon)
        {
        }

        internal byte* Weight => weight;

        internal byte* Bias => bias;

        internal double Epsilon => epsilon;
    }

    private readonly struct LinearWeights(Gpt2Conv1D layer)
    {
        internal byte* Weight { get; } = Address(layer.RowMajorWeight);

        internal byte* Bias { get; } = Address(layer.Bias);

        /// <summary>What float16 weights hold (infinities, NaNs, subnormals), scanned once per version.</summary>
        internal Float16WeightScan Scan { get; } = new(layer.RowMajorWeight);

        internal int Inputs { get; } = layer.InFeatures;

        internal int Outputs { get; } = layer.OutFeatures;
    }

    private sealed record LayerWeights(NormWeights Norm1, LinearWeights QueryKeyValue, LinearWeights Projection, NormWeights Norm2, LinearWeights Expansion, LinearWeights Contraction)
    {
        internal LayerWeights(Gpt2Block block)
            : this(new NormWeights(block.Norm1), new LinearWeights(block.Attention.QueryKeyValue), new LinearWeights(block.Attention.Projection),
                  new NormWeights(block.Norm2), new LinearWeights(block.Mlp.Expansion), new LinearWeights(block.Mlp.Projection))
        {
        }
    }
}
