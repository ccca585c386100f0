using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>GPT-2's <c>transformer</c>: token and position embeddings, the blocks and the final LayerNorm.</summary>
internal sealed class Gpt2Transformer : nn.Module
{
    internal Gpt2Transformer(string name, Gpt2Config config, ScalarType dtype, Device device)
        : base(name)
    {
        TokenEmbedding = new Gpt2Embedding("wte", config.VocabularySize, config.HiddenSize, dtype, device);
        PositionEmbedding = new Gpt2Embedding("wpe", config.MaxPositions, config.HiddenSize, dtype, device);
        Blocks = new Gpt2BlockList("h", config, dtype, device);
        FinalNorm = new Gpt2LayerNorm("ln_f", config.HiddenSize, config.LayerNormEpsilon, dtype, device);
        register_module("wte", TokenEmbedding);
        register_module("wpe", PositionEmbedding);
        register_module("h", Blocks);
        register_module("ln_f", FinalNorm);
    }

    internal Gpt2Embedding TokenEmbedding { get; }

    internal Gpt2Embedding PositionEmbedding { get; }

    internal Gpt2BlockList Blocks { get; }

    internal Gpt2LayerNorm FinalNorm { get; }
}
