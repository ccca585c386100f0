using System.Text.RegularExpressions;
using LmHead.Extensions.Tokenization;
using Microsoft.ML.Tokenizers;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// A GPT-2 checkpoint in the Hugging Face folder layout: <c>config.json</c>, <c>model.safetensors</c> and, optionally,
/// <c>vocab.json</c> + <c>merges.txt</c>. <see cref="Load"/> reads one into a <see cref="Gpt2Model"/> and a tokenizer;
/// <see cref="Save"/> writes a model back in the same layout (Hugging Face key names, Conv1D weights <c>[in, out]</c>).
/// </summary>
public sealed partial class Gpt2Pretrained : IDisposable
{
    /// <summary>The configuration file name.</summary>
    public const string ConfigFileName = "config.json";

    /// <summary>The weights file name.</summary>
    public const string WeightsFileName = "model.safetensors";

    /// <summary>The BPE vocabulary file name.</summary>
    public const string VocabularyFileName = "vocab.json";

    /// <summary>The BPE merges file name.</summary>
    public const string MergesFileName = "merges.txt";

    private const string Prefix = "transformer.";
    private const string HeadKey = "lm_head.weight";

    private Gpt2Pretrained(Gpt2Model model, Tokenizer tokenizer)
    {
        Model = model;
        Tokenizer = tokenizer;
    }

    /// <summary>The model.</summary>
    public Gpt2Model Model { get; }

    /// <summary>The tokenizer: the folder's <c>vocab.json</c> + <c>merges.txt</c>, else the built-in GPT-2 tokenizer.</summary>
    public Tokenizer Tokenizer { get; }

    /// <summary>The model's configuration.</summary>
    public Gpt2Config Config => Model.Config;

    /// <summary>Loads a model and its tokenizer from a folder.</summary>
    /// <param name="directory">The folder holding <c>config.json</c> and <c>model.safetensors</c>.</param>
    /// <param name="dtype">The compute dtype; stored F32, F16 and BF16 weights are converted to it.</param>
    /// <param name="device">The device, or <see langword="null"/> for the CPU.</param>
    /// <returns>The loaded checkpoint; dispose it to release the model.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="directory"/> is null.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="ModelFormatException">A file is missing, malformed, or does not match the configuration; the message names the file and key.</exception>
    public static Gpt2Pretrained Load(string directory, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        var model = LoadModel(directory, dtype, device);
        try
        {
            return new Gpt2Pretrained(model, LoadTokenizer(directory));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Loads only the model from a folder.</summary>
    /// <param name="directory">The folder holding <c>config.json</c> and <c>model.safetensors</c>.</param>
    /// <param name="dtype">The compute dtype.</param>
    /// <param name="device">The device, or <see langword="null"/> for the CPU.</param>
    /// <returns>The model; the caller disposes it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="directory"/> is null.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="ModelFormatException">A file is missing, malformed, or does not match the configuration.</exception>
    public static Gpt2Model LoadModel(string directory, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"The model folder '{directory}' does not exist.");
        }

        string configPath = RequireFile(directory, ConfigFileName);
        string weightsPath = RequireFile(directory, WeightsFileName);
        var config = Gpt2Config.Load(configPath);
        RequireEnoughStoredValues(config, weightsPath);
        var model = new Gpt2Model(config, dtype, device);
        try
        {
            CopyWeights(model, weightsPath);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Loads the tokenizer of a folder: <c>vocab.json</c> + <c>merges.txt</c> when both exist, else <see cref="Gpt2Tokenizer.Default"/>.</summary>
    /// <param name="directory">The folder.</param>
    /// <returns>The tokenizer.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="directory"/> is null.</exception>
    /// <exception cref="ModelFormatException">The vocabulary or merges file is malformed.</exception>
    /// <exception cref="IOException">A file exists but cannot be opened.</exception>
    public static Tokenizer LoadTokenizer(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string vocabulary = Path.Combine(directory, VocabularyFileName);
        string merges = Path.Combine(directory, MergesFileName);
        if (!File.Exists(vocabulary) || !File.Exists(merges))
        {
            return Gpt2Tokenizer.Default;
        }

        using var vocabularyStream = File.OpenRead(vocabulary);
        using var mergesStream = File.OpenRead(merges);
        try
        {
            return CodeGenTokenizer.Create(vocabularyStream, mergesStream, false, false, false);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidOperationException or System.Text.Json.JsonException
            or IOException or KeyNotFoundException or IndexOutOfRangeException or OverflowException)
        {
            // Microsoft.ML.Tokenizers reports a malformed merges.txt as an IOException; the files were opened above, so
            // every exception here is about their content.
            throw new ModelFormatException(vocabulary, null, $"the tokenizer files ({VocabularyFileName}, {MergesFileName}) could not be read: {ex.Message}", ex);
        }
    }

    /// <summary>Saves a model to a folder as <c>config.json</c> + <c>model.safetensors</c> in the Hugging Face layout.</summary>
    /// <param name="model">The model.</param>
    /// <param name="directory">The folder; created if missing, existing files overwritten.</param>
    /// <param name="storageDtype">The dtype to store (Float32, Float16 or BFloat16), or <see langword="null"/> for the model's own.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="storageDtype"/> is not a supported floating-point type.</exception>
    /// <exception cref="ObjectDisposedException"><paramref name="model"/> has been disposed.</exception>
    public static void Save(Gpt2Model model, string directory, ScalarType? storageDtype = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(directory);
        using var use = model.EnterUse();
        if (storageDtype is { } requested && requested is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64))
        {
            throw new ArgumentException($"storageDtype must be Float32, Float16, BFloat16 or Float64, but is {requested}.", nameof(storageDtype));
        }

        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, ConfigFileName), model.Config.ToJson());
        using var scope = NewDisposeScope();
        var tensors = model.named_parameters()
            .Select(p => new KeyValuePair<string, Tensor>(p.name, storageDtype is { } t ? p.parameter.to_type(t) : p.parameter))
            .ToList();
        SafeTensorsFile.Write(Path.Combine(directory, WeightsFileName), tensors);
    }

    /// <summary>Releases the model.</summary>
    public void Dispose() => Model.Dispose();

    private static string RequireFile(string directory, string name)
    {
        string path = Path.Combine(directory, name);
        return File.Exists(path) ? path : throw new ModelFormatException(path, null, $"the folder has no {name}.");
    }

    /// <summary>
    /// Rejects a config.json whose sizes need more values than model.safetensors holds before the model's native
    /// tensors are allocated, so a hostile <c>vocab_size</c> or <c>n_positions</c> cannot make a small folder allocate
    /// gigabytes. The count is a lower bound (the weight matrices only), so a valid checkpoint always passes.
    /// </summary>
    private static void RequireEnoughStoredValues(Gpt2Config config, string weightsPath)
    {
        double d = config.HiddenSize, inner = config.EffectiveInnerSize;
        double needed = (config.VocabularySize + (double)config.MaxPositions) * d
            + config.LayerCount * ((4 * d * d) + (2 * d * inner))
            + (config.TieWordEmbeddings ? 0 : config.VocabularySize * d);
        double stored = 0;
        foreach (var entry in SafeTensorsFile.ReadHeader(weightsPath, out _))
        {
            stored += entry.Shape.Aggregate(1.0, (product, size) => product * size);
        }

        if (needed > stored)
        {
            throw new ModelFormatException(weightsPath, null,
                $"config.json describes a model with at least {needed:0} weights but the file stores only {stored:0} values (wrong config.json, or a truncated file).");
        }
    }

    private static void CopyWeights(Gpt2Model model, string path)
    {
        var stored = SafeTensorsFile.ReadAll(path);
        try
        {
            var expected = model.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
            var byName = new Dictionary<string, (string StoredKey, Tensor Tensor)>(StringComparer.Ordinal);
            foreach (var (key, tensor) in stored)
            {
                if (AttentionBuffer().IsMatch(key))
                {
                    continue; // the causal-mask buffers old checkpoints carry; the model builds its own mask
                }

                string name = key.StartsWith(Prefix, StringComparison.Ordinal) || key.StartsWith("lm_head.", StringComparison.Ordinal) ? key : Prefix + key;
                if (name == HeadKey && model.Config.TieWordEmbeddings)
                {
                    continue; // tied: the head is wte, and Hugging Face writes the same values under both names
                }

                if (!expected.ContainsKey(name))
                {
                    throw new ModelFormatException(path, key, "unknown tensor: a GPT-2 model with this config.json has no such parameter.");
                }

                if (!byName.TryAdd(name, (key, tensor)))
                {
                    throw new ModelFormatException(path, key, $"the tensor is stored twice (as '{byName[name].StoredKey}' and '{key}').");
                }
            }

            using var noGrad = no_grad();
            foreach (var (name, parameter) in expected)
            {
                if (!byName.TryGetValue(name, out var found))
                {
                    throw new ModelFormatException(path, name, $"missing tensor (looked for '{name}' and '{name[Prefix.Length..]}').");
                }

                if (!found.Tensor.shape.SequenceEqual(parameter.shape))
                {
                    throw new ModelFormatException(path, found.StoredKey,
                        $"has shape [{string.Join(", ", found.Tensor.shape)}] but config.json implies [{string.Join(", ", parameter.shape)}].");
                }

                using var converted = found.Tensor.to(parameter.dtype, parameter.device);
                parameter.copy_(converted);
            }
        }
        finally
        {
            foreach (var tensor in stored.Values)
            {
                tensor.Dispose();
            }
        }
    }

    [GeneratedRegex(@"^(transformer\.)?h\.\d+\.attn\.(bias|masked_bias)$", RegexOptions.CultureInvariant)]
    private static partial Regex AttentionBuffer();
}
