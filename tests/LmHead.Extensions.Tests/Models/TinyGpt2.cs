using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Models;

/// <summary>Builds tiny GPT-2 checkpoints with random weights in the real Hugging Face folder layout.</summary>
internal static class TinyGpt2
{
    internal static Gpt2Config Config(int vocabularySize = 300, bool tied = true) => new()
    {
        HiddenSize = 32,
        LayerCount = 2,
        HeadCount = 4,
        MaxPositions = 64,
        VocabularySize = vocabularySize,
        TieWordEmbeddings = tied,
        BosTokenId = vocabularySize - 1,
        EosTokenId = vocabularySize - 1,
    };

    /// <summary>A model whose every parameter (biases and LayerNorm included) is random, so no term can hide.</summary>
    internal static Gpt2Model CreateRandom(Gpt2Config config, long seed)
    {
        var model = new Gpt2Model(config);
        var generator = new Generator((ulong)seed);
        using var noGrad = no_grad();
        foreach (var (name, parameter) in model.named_parameters())
        {
            using var noise = randn(parameter.shape, generator: generator);
            bool isNormWeight = name.Contains(".ln_", StringComparison.Ordinal) && name.EndsWith(".weight", StringComparison.Ordinal);
            using var value = isNormWeight ? 1.0 + 0.2 * noise : (name.Contains("wte", StringComparison.Ordinal) || name.Contains("wpe", StringComparison.Ordinal) ? 0.5 : 0.2) * noise;
            parameter.copy_(value);
        }

        return model;
    }

    /// <summary>Saves a random model to a new temporary folder and returns the folder.</summary>
    internal static string CreateFolder(Gpt2Config config, long seed, ScalarType? storage = null)
    {
        string folder = NewFolder();
        using var model = CreateRandom(config, seed);
        Gpt2Pretrained.Save(model, folder, storage);
        return folder;
    }

    internal static string NewFolder()
    {
        string folder = Path.Combine(Path.GetTempPath(), "lmhead-gpt2-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return folder;
    }
}
