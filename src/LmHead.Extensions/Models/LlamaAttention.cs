using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// Grouped-query self-attention of a Llama-family layer: <c>q_proj</c> to H heads, <c>k_proj</c>/<c>v_proj</c> to
/// H_kv heads (each shared by H / H_kv query heads), rotary embeddings on q and k, scores scaled by 1/√head_dim under
/// a causal (and padding) mask, <c>o_proj</c>. With a cache, the new keys and values are written after the cached ones.
/// </summary>
internal sealed class LlamaAttention : nn.Module
{
    private readonly int _heads;
    private readonly int _keyValueHeads;
    private readonly int _headDim;

    internal LlamaAttention(string name, LlamaConfig config, ScalarType dtype, Device device, bool initialise)
        : base(name)
    {
        _heads = config.HeadCount;
        _keyValueHeads = config.EffectiveKeyValueHeadCount;
        _headDim = config.EffectiveHeadDim;
        Query = new LlamaLinear("q_proj", _heads * _headDim, config.HiddenSize, config.HasQkvBias, dtype, device, initialise);
        Key = new LlamaLinear("k_proj", _keyValueHeads * _headDim, config.HiddenSize, config.HasQkvBias, dtype, device, initialise);
        Value = new LlamaLinear("v_proj", _keyValueHeads * _headDim, config.HiddenSize, config.HasQkvBias, dtype, device, initialise);
        Output = new LlamaLinear("o_proj", config.HiddenSize, _heads * _headDim, config.HasOutputBias, dtype, device, initialise);
        register_module("q_proj", Query);
        register_module("k_proj", Key);
        register_module("v_proj", Value);
        register_module("o_proj", Output);
    }

    internal LlamaLinear Query { get; }

    internal LlamaLinear Key { get; }

    internal LlamaLinear Value { get; }

    internal LlamaLinear Output { get; }

    /// <param name="x">Input <c>[B, T, d]</c>.</param>
    /// <param name="cos">Rotary cosines <c>[B, 1, T, hd]</c>.</param>
    /// <param name="sin">Rotary sines <c>[B, 1, T, hd]</c>.</param>
    /// <param name="blocked">Where attention is forbidden, broadcastable to <c>[B, H, T, S]</c> (S = cached + T).</param>
    /// <param name="cache">The cache to read and extend, or null.</param>
    /// <param name="layer">This layer's index in the cache.</param>
    internal Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor blocked, KvCache? cache, int layer)
    {
        using var scope = NewDisposeScope();
        long batch = x.shape[0], time = x.shape[1];
        var query = LlamaRotaryEmbedding.Apply(Split(Query.Forward(x), batch, time, _heads), cos, sin);
        var key = LlamaRotaryEmbedding.Apply(Split(Key.Forward(x), batch, time, _keyValueHeads), cos, sin);
        var value = Split(Value.Forward(x), batch, time, _keyValueHeads);
        if (cache is not null)
        {
            (key, value) = cache.Append(layer, key, value);
            key = key.to_type(query.dtype);
            value = value.to_type(query.dtype);
        }

        if (_heads != _keyValueHeads)
        {
            // repeat_kv: query head h reads key/value head h / (H / H_kv).
            key = key.repeat_interleave(_heads / _keyValueHeads, 1);
            value = value.repeat_interleave(_heads / _keyValueHeads, 1);
        }

        var scores = query.matmul(key.transpose(-2, -1)).mul(1.0 / Math.Sqrt(_headDim));
        scores = scores.masked_fill(blocked, MinValue(scores.dtype));
        var weights = scores.softmax(-1);
        var context = weights.matmul(value).transpose(1, 2).contiguous().view(batch, time, _heads * _headDim);
        return Output.Forward(context).MoveToOuterDisposeScope();
    }

    private Tensor Split(Tensor t, long batch, long time, int heads) => t.view(batch, time, heads, _headDim).transpose(1, 2);

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
