using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// GPT-2's causal self-attention: fused <c>c_attn</c> (q, k, v), scores divided by √head_dim, masked, softmax,
/// <c>c_proj</c>. With a cache, new keys and values are appended to the cached ones.
/// </summary>
internal sealed class Gpt2Attention : nn.Module
{
    private readonly Gpt2Conv1D _attn;
    private readonly Gpt2Conv1D _proj;
    private readonly int _heads;
    private readonly int _headSize;
    private readonly int _hidden;

    internal Gpt2Attention(string name, Gpt2Config config, ScalarType dtype, Device device)
        : base(name)
    {
        _hidden = config.HiddenSize;
        _heads = config.HeadCount;
        _headSize = config.HeadSize;
        _attn = new Gpt2Conv1D("c_attn", _hidden, 3 * _hidden, dtype, device);
        _proj = new Gpt2Conv1D("c_proj", _hidden, _hidden, dtype, device);
        register_module("c_attn", _attn);
        register_module("c_proj", _proj);
    }

    internal Gpt2Conv1D QueryKeyValue => _attn;

    internal Gpt2Conv1D Projection => _proj;

    /// <param name="x">Input <c>[B, T, d]</c>.</param>
    /// <param name="blocked">Where attention is forbidden, broadcastable to <c>[B, H, T, S]</c> (S = cached + T).</param>
    /// <param name="cache">The cache to read and extend, or null.</param>
    /// <param name="layer">This block's index in the cache.</param>
    internal Tensor Forward(Tensor x, Tensor blocked, Gpt2KvCache? cache, int layer)
    {
        using var scope = NewDisposeScope();
        long batch = x.shape[0], time = x.shape[1];
        var qkv = _attn.Forward(x).split(_hidden, dim: -1);
        var query = SplitHeads(qkv[0], batch, time);
        var key = SplitHeads(qkv[1], batch, time);
        var value = SplitHeads(qkv[2], batch, time);
        if (cache is not null)
        {
            (key, value) = cache.Append(layer, key, value);
            if (key.dtype != query.dtype)
            {
                key = key.to_type(query.dtype);
                value = value.to_type(query.dtype);
            }
        }

        var scores = query.matmul(key.transpose(-2, -1)) / Math.Sqrt(_headSize);
        scores = scores.masked_fill(blocked, MinValue(scores.dtype));
        var weights = scores.softmax(-1);
        var context = weights.matmul(value).transpose(1, 2).contiguous().view(batch, time, _hidden);
        return _proj.Forward(context).MoveToOuterDisposeScope();
    }

    private Tensor SplitHeads(Tensor t, long batch, long time) => t.view(batch, time, _heads, _headSize).transpose(1, 2);

    // Hugging Face fills masked scores with finfo(dtype).min rather than -inf, so a row with every key masked (a left
    // padding query) stays finite instead of turning into NaN.
    private static double MinValue(ScalarType dtype) => dtype switch
    {
        ScalarType.Float16 => -65504.0,
        ScalarType.BFloat16 => -3.3895313892515355e38,
        ScalarType.Float64 => double.MinValue,
        _ => float.MinValue,
    };
}
