using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// Rotary position embeddings in Hugging Face's <c>rotate_half</c> convention: dimension i and i + d/2 of every head
/// form a pair rotated by <c>position × inverse_frequency[i]</c>. The angles are computed in double precision in managed
/// code (no tensor arithmetic on positions), then rounded once to the activations' dtype.
/// </summary>
internal sealed class LlamaRotaryEmbedding
{
    private readonly double[] _inverseFrequencies;
    private readonly int _headDim;

    internal LlamaRotaryEmbedding(LlamaConfig config)
    {
        _inverseFrequencies = config.InverseFrequencies();
        _headDim = config.EffectiveHeadDim;
    }

    /// <summary>The cosine and sine tables <c>[B, 1, T, hd]</c> for positions <c>[B, T]</c>, in the caller's dispose scope.</summary>
    internal (Tensor Cos, Tensor Sin) Tables(long[] positions, int batch, int time, ScalarType dtype, Device device)
    {
        int half = _headDim / 2;
        float[] cos = new float[positions.Length * _headDim];
        float[] sin = new float[cos.Length];
        for (int p = 0; p < positions.Length; p++)
        {
            int row = p * _headDim;
            for (int i = 0; i < half; i++)
            {
                double angle = positions[p] * _inverseFrequencies[i];
                float c = (float)Math.Cos(angle), s = (float)Math.Sin(angle);
                cos[row + i] = c;
                cos[row + half + i] = c;
                sin[row + i] = s;
                sin[row + half + i] = s;
            }
        }

        long[] shape = [batch, 1, time, _headDim];
        return (tensor(cos, shape).to(dtype, device), tensor(sin, shape).to(dtype, device));
    }

    /// <summary><c>x·cos + rotate_half(x)·sin</c> for <paramref name="x"/> <c>[B, H, T, hd]</c>.</summary>
    internal static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = NewDisposeScope();
        long half = x.shape[^1] / 2;
        var rotated = cat([x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)], -1);
        return x.mul(cos).add(rotated.mul(sin)).MoveToOuterDisposeScope();
    }
}
