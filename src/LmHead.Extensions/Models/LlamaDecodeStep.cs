using System.Runtime.InteropServices;
using LmHead.Extensions.Decoding.Cpu;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Models;

/// <summary>
/// A Llama-family forward step for one new token per sequence, in managed code on the CPU: every projection by
/// <see cref="BatchedMatrixKernel"/> (each weight read once per step for all sequences, in its own dtype), RMSNorm,
/// rotary embeddings, SwiGLU, residuals and grouped-query attention over the float32 cache on float32 activations. No
/// libtorch op runs during a step, so libtorch's OpenMP workers never compete with the kernel's threads (with torch ops
/// between the kernels, a 0.5B model's step took several times its weight-read time on two loaded cores).
/// </summary>
/// <remarks>
/// Holds the addresses of the model's parameters: use it only under <see cref="CausalLanguageModel.EnterUse"/>. Every
/// per-sequence computation reads only that sequence's row and the projections are batch-invariant, so a sequence's
/// result is the same alone or beside others.
/// </remarks>
internal sealed unsafe class LlamaDecodeStep
{
    private readonly LlamaModel _model;
    private readonly WeightFormat _format;
    private readonly double[] _inverseFrequencies;
    private readonly int _d, _heads, _kvHeads, _headDim, _inner;
    private readonly float _epsilon;

    private LlamaDecodeStep(LlamaModel model, WeightFormat format)
    {
        var c = model.Config;
        _model = model;
        _format = format;
        _inverseFrequencies = c.InverseFrequencies();
        (_d, _heads, _kvHeads, _headDim, _inner) = (c.HiddenSize, c.HeadCount, c.EffectiveKeyValueHeadCount, c.EffectiveHeadDim, c.IntermediateSize);
        _epsilon = (float)c.RmsNormEpsilon;
    }

    /// <summary>One sequence of a step: its cache, its row in that cache, and its new token.</summary>
    internal readonly record struct Sequence(LlamaKvCache Cache, int Row, long Token);

    /// <summary>The step for a CPU model with float32, float16 or bfloat16 weights and AVX2; otherwise null (the torch path).</summary>
    internal static LlamaDecodeStep? TryCreate(LlamaModel model)
    {
        if (model.Device.type != DeviceType.CPU || !MatrixVectorKernel.IsAccelerated || model.ActivationDType != ScalarType.Float32)
        {
            return null;
        }

        WeightFormat? format = model.DType switch
        {
            ScalarType.Float32 => WeightFormat.Float32,
            ScalarType.Float16 => WeightFormat.Float16,
            ScalarType.BFloat16 => WeightFormat.BFloat16,
            _ => null,
        };
        return format is { } f ? new LlamaDecodeStep(model, f) : null;
    }

    /// <summary>
    /// Runs the step and writes the normed last hidden state (float32) of sequence i to <c>output + i·d</c>. The caller
    /// has validated the tokens, reserved one more position in every cache, and commits the caches after.
    /// </summary>
    internal void Run(IReadOnlyList<Sequence> sequences, float* output)
    {
        int n = sequences.Count, q = _heads * _headDim, kv = _kvHeads * _headDim;
        long floats = (long)n * ((3L * _d) + q + (2L * kv) + q + (2L * _inner)) + ((long)n * _headDim);
        float* buffer = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 32);
        try
        {
            float* x = buffer, h = x + (n * _d), update = h + (n * _d), query = update + (n * _d), key = query + (n * q), value = key + (n * kv);
            float* context = value + (n * kv), gate = context + (n * q), up = gate + ((long)n * _inner), rotation = up + ((long)n * _inner);
            var attention = new LlamaStepAttention(sequences, _kvHeads, _headDim, _heads / _kvHeads);
            for (int i = 0; i < n; i++)
            {
                Embed(sequences[i].Token, x + ((long)i * _d));
                Angles(attention.Position(i), rotation + ((long)i * _headDim));
            }

            var layers = _model.Decoder.Layers;
            for (int l = 0; l < layers.Count; l++)
            {
                var layer = layers[l];
                Normalize(x, h, n, layer.InputNorm.Weight);
                Linear(layer.Attention.Query, h, n, query);
                Linear(layer.Attention.Key, h, n, key);
                Linear(layer.Attention.Value, h, n, value);
                for (int i = 0; i < n; i++)
                {
                    Rotate(query + ((long)i * q), _heads, rotation + ((long)i * _headDim));
                    Rotate(key + ((long)i * kv), _kvHeads, rotation + ((long)i * _headDim));
                }

                attention.Run(l, query, key, value, context);
                Linear(layer.Attention.Output, context, n, update);
                Gpt2DecodeKernels.AddInPlace(x, update, (long)n * _d);
                Normalize(x, h, n, layer.PostAttentionNorm.Weight);
                Linear(layer.Mlp.Gate, h, n, gate);
                Linear(layer.Mlp.Up, h, n, up);
                LlamaDecodeKernels.SwiGlu(gate, up, (long)n * _inner);

                Linear(layer.Mlp.Down, gate, n, update);
                Gpt2DecodeKernels.AddInPlace(x, update, (long)n * _d);
            }

            Normalize(x, output, n, _model.Decoder.Norm.Weight);
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    private void Embed(long token, float* row)
    {
        byte* table = Gpt2DecodeStep.Address(_model.Decoder.Embedding.Weight);
        Gpt2DecodeKernels.Widen(table + (token * _d * (_format == WeightFormat.Float32 ? sizeof(float) : sizeof(ushort))), row, _d, _format);
    }

    /// <summary>cos and sin of position × inverse frequency, computed in double: <c>rotation[i]</c> = cos, <c>rotation[half + i]</c> = sin.</summary>
    private void Angles(long position, float* rotation)
    {
        int half = _headDim / 2;
        for (int i = 0; i < half; i++)
        {
            double angle = position * _inverseFrequencies[i];
            rotation[i] = (float)Math.Cos(angle);
            rotation[half + i] = (float)Math.Sin(angle);
        }
    }

    /// <summary>HF's <c>x·cos + rotate_half(x)·sin</c> on every head of a row.</summary>
    private void Rotate(float* row, int heads, float* rotation)
    {
        int half = _headDim / 2;
        for (int head = 0; head < heads; head++)
        {
            float* v = row + ((long)head * _headDim);
            for (int i = 0; i < half; i++)
            {
                float cos = rotation[i], sin = rotation[half + i], x1 = v[i], x2 = v[half + i];
                v[i] = (x1 * cos) - (x2 * sin);
                v[half + i] = (x2 * cos) + (x1 * sin);
            }
        }
    }

    private void Normalize(float* x, float* y, int n, Parameter weight)
    {
        byte* w = Gpt2DecodeStep.Address(weight);
        for (int i = 0; i < n; i++)
        {
            LlamaDecodeKernels.RmsNorm(x + ((long)i * _d), y + ((long)i * _d), _d, w, _format, _epsilon);
        }
    }

    private void Linear(LlamaLinear layer, float* input, int n, float* output)
    {
        nint bias = layer.Bias is null ? 0 : (nint)Gpt2DecodeStep.Address(layer.Bias);
        BatchedMatrixKernel.Multiply(
            (nint)Gpt2DecodeStep.Address(layer.Weight), _format, (int)layer.Weight.shape[0], (int)layer.Weight.shape[1], input, n, bias, output,
            facts: _format == WeightFormat.Float16 ? layer.Scan.Current() : default);
    }

}
