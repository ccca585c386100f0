using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks;

/// <summary>The GPT-2-small-shaped model the end-to-end benchmarks share: 124M parameters, random weights.</summary>
internal static class Gpt2SmallShape
{
    /// <summary>n_embd 768, 12 layers, 12 heads, vocabulary 50,257, n_positions 1,024, tied head.</summary>
    internal static Gpt2Config Config { get; } = new() { HiddenSize = 768, LayerCount = 12, HeadCount = 12, VocabularySize = 50257, MaxPositions = 1024 };

    /// <summary>
    /// A model whose parameters are <c>randn · 0.02</c> (seeded), except the LayerNorms, which keep their ones and zeros
    /// so that activations stay in a realistic range.
    /// </summary>
    internal static Gpt2Model CreateRandom(ScalarType dtype = ScalarType.Float32)
    {
        var model = new Gpt2Model(Config, dtype);
        using var noGrad = no_grad();
        var generator = new Generator(11);
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (!name.Contains(".ln_", StringComparison.Ordinal))
            {
                using var noise = randn(parameter.shape, generator: generator);
                parameter.copy_(noise.mul_(0.02));
            }
        }

        return model;
    }
}
