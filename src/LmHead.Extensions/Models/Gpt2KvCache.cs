using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// The keys and values of every attention layer for the tokens a <see cref="Gpt2Model"/> has already seen. Create one per
/// sequence (or batch) with <see cref="Gpt2Model.CreateKvCache"/>, pass it to every forward call in order, and dispose
/// it: it owns its tensors. Not thread-safe.
/// </summary>
public sealed class Gpt2KvCache : KvCache
{
    internal Gpt2KvCache(Gpt2Config config, ScalarType dtype, Device device)
        : base(config.LayerCount, config.HeadCount, config.HeadSize, config.MaxPositions, dtype, device)
    {
    }
}
