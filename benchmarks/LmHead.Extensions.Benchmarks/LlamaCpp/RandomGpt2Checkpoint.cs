using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks.LlamaCpp;

/// <summary>
/// One set of random GPT-2 weights written by this library in the real checkpoint layout, three times (F32, F16 and
/// BF16 <c>model.safetensors</c>, each with its <c>config.json</c>), and each folder converted to a llama.cpp GGUF by
/// <see cref="Gpt2GgufConverter"/>, so both engines load the same weights from files. Disposing deletes the files.
/// </summary>
internal sealed class RandomGpt2Checkpoint : IDisposable
{
    private RandomGpt2Checkpoint(Gpt2Config config, string root)
    {
        Config = config;
        Root = root;
    }

    /// <summary>The hyper-parameters.</summary>
    public Gpt2Config Config { get; }

    /// <summary>The folder that holds everything.</summary>
    public string Root { get; }

    /// <summary>
    /// Draws the weights (matrices, embeddings and biases N(0, 0.02²); LayerNorm weights 1 + N(0, 0.1²) and biases
    /// N(0, 0.1²), so a swapped or missing norm parameter changes the logits), saves both folders and converts them.
    /// </summary>
    /// <param name="config">The hyper-parameters.</param>
    /// <param name="seed">The seed of the weights.</param>
    /// <returns>The checkpoint; dispose it to delete its files.</returns>
    public static RandomGpt2Checkpoint Create(Gpt2Config config, int seed)
    {
        string root = Path.Combine(Path.GetTempPath(), $"lmhead-llamacpp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        var checkpoint = new RandomGpt2Checkpoint(config, root);
        try
        {
            using (var model = new Gpt2Model(config))
            {
                using var noGrad = no_grad();
                var generator = new Generator((ulong)seed);
                foreach (var (name, parameter) in model.named_parameters())
                {
                    using var noise = randn(parameter.shape, generator: generator);
                    bool norm = name.Contains(".ln_", StringComparison.Ordinal);
                    parameter.copy_(noise.mul_(norm ? 0.1 : 0.02));
                    if (norm && name.EndsWith(".weight", StringComparison.Ordinal))
                    {
                        parameter.add_(1.0);
                    }
                }

                foreach (var type in Types)
                {
                    Gpt2Pretrained.Save(model, checkpoint.Folder(type), ToScalarType(type));
                }
            }

            foreach (var type in Types)
            {
                Gpt2GgufConverter.Convert(checkpoint.Folder(type), checkpoint.Gguf(type), type);
            }

            return checkpoint;
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    /// <summary>The stored types: each has its Hugging Face folder and its GGUF.</summary>
    public static GgmlType[] Types { get; } = [GgmlType.F32, GgmlType.F16, GgmlType.BF16];

    /// <summary>The TorchSharp dtype of a stored type.</summary>
    public static ScalarType ToScalarType(GgmlType type) => type switch
    {
        GgmlType.F32 => ScalarType.Float32,
        GgmlType.F16 => ScalarType.Float16,
        _ => ScalarType.BFloat16,
    };

    /// <summary>The stored type of a TorchSharp dtype.</summary>
    public static GgmlType ToGgmlType(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => GgmlType.F32,
        ScalarType.Float16 => GgmlType.F16,
        _ => GgmlType.BF16,
    };

    /// <summary>
    /// llama.cpp's KV cache type for weights of <paramref name="type"/>: the weights' own for F32 and F16; F16 for BF16
    /// (LLamaSharp 0.30.0's cache-type enumeration has no BF16; F16 is llama.cpp's default and as many bytes as this
    /// library's bfloat16 cache).
    /// </summary>
    public static LLama.Native.GGMLType CacheType(GgmlType type) =>
        type == GgmlType.F32 ? LLama.Native.GGMLType.GGML_TYPE_F32 : LLama.Native.GGMLType.GGML_TYPE_F16;

    /// <summary>The Hugging Face folder of the weights stored as <paramref name="type"/>.</summary>
    public string Folder(GgmlType type) => Path.Combine(Root, type.ToString());

    /// <summary>The GGUF file converted from <see cref="Folder"/>.</summary>
    public string Gguf(GgmlType type) => Path.Combine(Root, $"gpt2-{type}.gguf".ToLowerInvariant());

    /// <summary>Deletes the files.</summary>
    public void Dispose()
    {
        if (Directory.Exists(Root))
        {
            Directory.Delete(Root, recursive: true);
        }
    }
}
