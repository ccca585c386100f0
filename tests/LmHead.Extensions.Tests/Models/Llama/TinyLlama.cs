using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Models.Llama;

/// <summary>Builds tiny Llama-family checkpoints with random weights in the real Hugging Face folder layout.</summary>
internal static class TinyLlama
{
    /// <summary>Grouped-query attention (4 query heads share 2 key/value heads), untied head.</summary>
    internal static LlamaConfig Llama(int vocabularySize = 97) => new()
    {
        ModelType = "llama",
        VocabularySize = vocabularySize,
        HiddenSize = 32,
        IntermediateSize = 48,
        LayerCount = 2,
        HeadCount = 4,
        KeyValueHeadCount = 2,
        RmsNormEpsilon = 1e-5,
        RopeTheta = 500,
        MaxPositions = 64,
        BosTokenId = 1,
        EosTokenIds = [2],
    };

    /// <summary>Llama 3.x rope scaling on a small original context, so all three frequency bands occur.</summary>
    internal static LlamaConfig Llama3Scaled() => Llama() with
    {
        RopeTheta = 10000,
        RopeScaling = new LlamaRopeScaling { RopeType = "llama3", Factor = 8, LowFrequencyFactor = 1, HighFrequencyFactor = 4, OriginalMaxPositions = 32 },
        EosTokenIds = [2, 3],
    };

    /// <summary>Qwen2: q/k/v biases, tied head, 3 query heads per key/value head.</summary>
    internal static LlamaConfig Qwen2() => Llama() with
    {
        ModelType = "qwen2",
        HeadCount = 6,
        KeyValueHeadCount = 2,
        HiddenSize = 48,
        TieWordEmbeddings = true,
        RopeTheta = 1000000,
    };

    /// <summary>Mistral with an explicit head_dim different from hidden / heads, and a window beyond the context.</summary>
    internal static LlamaConfig Mistral() => Llama() with
    {
        ModelType = "mistral",
        HeadDim = 12,
        KeyValueHeadCount = 1,
        SlidingWindow = 4096,
    };

    /// <summary>Llama with attention_bias (q/k/v/o biases) and plain multi-head attention.</summary>
    internal static LlamaConfig LlamaWithBias() => Llama() with { AttentionBias = true, KeyValueHeadCount = null };

    /// <summary>A model whose every parameter (norm weights and biases included) is random, so no term can hide.</summary>
    internal static LlamaModel CreateRandom(LlamaConfig config, long seed, ScalarType dtype = ScalarType.Float32)
    {
        var model = new LlamaModel(config, dtype);
        var generator = new Generator((ulong)seed);
        using var noGrad = no_grad();
        foreach (var (name, parameter) in model.named_parameters())
        {
            using var noise = randn(parameter.shape, generator: generator);
            using var value = name.EndsWith("norm.weight", StringComparison.Ordinal) ? 1.0 + (0.2 * noise)
                : name.Contains("embed_tokens", StringComparison.Ordinal) ? noise
                : 0.15 * noise;
            parameter.copy_(value);
        }

        return model;
    }

    /// <summary>Saves a random model to a new temporary folder and returns the folder.</summary>
    internal static string CreateFolder(LlamaConfig config, long seed, ScalarType? storage = null, long? maxShardBytes = null)
    {
        string folder = NewFolder();
        using var model = CreateRandom(config, seed);
        LlamaPretrained.Save(model, folder, storage, maxShardBytes);
        return folder;
    }

    internal static string NewFolder()
    {
        string folder = Path.Combine(Path.GetTempPath(), "lmhead-llama-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return folder;
    }
}
