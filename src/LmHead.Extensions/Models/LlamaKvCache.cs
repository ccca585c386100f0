using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// The keys and values (after rotary embedding) of every layer for the tokens a <see cref="LlamaModel"/> has already
/// seen, stored per key/value head (<c>num_key_value_heads</c>, so grouped-query attention caches H / H_kv times less).
/// Create one with <see cref="LlamaModel.CreateKvCache"/>, pass it to every forward call in order, and dispose it.
/// Not thread-safe.
/// </summary>
public sealed class LlamaKvCache : KvCache
{
    internal LlamaKvCache(LlamaConfig config, ScalarType dtype, Device device)
        : base(config.LayerCount, config.EffectiveKeyValueHeadCount, config.EffectiveHeadDim, config.ContextLength, dtype, device)
    {
    }
}
