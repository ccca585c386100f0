using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks;

/// <summary>A random-weight model of Qwen2.5-0.5B's shape (494M parameters, tied head), for the Llama-family benchmarks.</summary>
internal static class Qwen25HalfBShape
{
    internal static LlamaConfig Config { get; } = new()
    {
        ModelType = "qwen2",
        VocabularySize = 151936,
        HiddenSize = 896,
        IntermediateSize = 4864,
        LayerCount = 24,
        HeadCount = 14,
        KeyValueHeadCount = 2,
        MaxPositions = 32768,
        RopeTheta = 1000000,
        TieWordEmbeddings = true,
        BosTokenId = 151643,
        EosTokenIds = [151643],
    };

    /// <summary>A model with small random weights (norm weights one), so activations stay finite over 24 layers.</summary>
    internal static LlamaModel CreateRandom(ScalarType dtype)
    {
        var model = new LlamaModel(Config, dtype);
        var generator = new Generator(7);
        using var noGrad = no_grad();
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (name.EndsWith("norm.weight", StringComparison.Ordinal))
            {
                continue;
            }

            using var noise = randn(parameter.shape, generator: generator);
            using var scaled = noise.mul(0.02);
            parameter.copy_(scaled);
        }

        return model;
    }

    /// <summary>The bytes of every weight a decode step reads: all parameters (the tied embedding once, as the head).</summary>
    internal static long WeightBytes(LlamaModel model) =>
        model.parameters().Sum(p => p.NumberOfElements * p.ElementSize);
}
