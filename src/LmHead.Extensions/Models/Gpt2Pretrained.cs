using LmHead.Extensions.Tokenization;
using Microsoft.ML.Tokenizers;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// A GPT-2 checkpoint in the Hugging Face folder layout: <c>config.json</c>, <c>model.safetensors</c> and, optionally,
/// <c>tokenizer.json</c> or <c>vocab.json</c> + <c>merges.txt</c>. <see cref="Load"/> reads one into a <see cref="Gpt2Model"/> and a tokenizer;
/// <see cref="Save"/> writes a model back in the same layout (Hugging Face key names, Conv1D weights <c>[in, out]</c>).
/// </summary>
/// <remarks>
/// Every file read must be, or link to, a regular file (a FIFO, a device, a directory, a dangling link or a link loop is
/// a <see cref="ModelFormatException"/>, checked before the file is opened), and text files are capped: 16 MiB for
/// <c>config.json</c>, 256 MiB each for <c>vocab.json</c> and <c>merges.txt</c>; <c>model.safetensors</c> must be
/// exactly as long as its header says.
/// </remarks>
public sealed class Gpt2Pretrained : IDisposable
{
    /// <summary>The configuration file name.</summary>
    public const string ConfigFileName = "config.json";

    /// <summary>The weights file name.</summary>
    public const string WeightsFileName = "model.safetensors";

    /// <summary>The BPE vocabulary file name.</summary>
    public const string VocabularyFileName = "vocab.json";

    /// <summary>The BPE merges file name.</summary>
    public const string MergesFileName = "merges.txt";

    private Gpt2Pretrained(Gpt2Model model, Tokenizer tokenizer)
    {
        Model = model;
        Tokenizer = tokenizer;
    }

    /// <summary>The model.</summary>
    public Gpt2Model Model { get; }

    /// <summary>The tokenizer: the folder's <c>tokenizer.json</c>, or its <c>vocab.json</c> + <c>merges.txt</c>, or the built-in GPT-2 tokenizer when the folder has no tokenizer files.</summary>
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
        return Gpt2WeightLoader.Load(config, weightsPath, dtype, device);
    }

    /// <summary>
    /// Loads the tokenizer of a folder: <c>tokenizer.json</c> when there is one (it carries the pre-tokenizer and the
    /// added tokens, see <see cref="TokenizerJson"/>), else <c>vocab.json</c> + <c>merges.txt</c>, else
    /// <see cref="Gpt2Tokenizer.Default"/> when the folder has no tokenizer file. A partial tokenizer (one of the two
    /// files without the other) is an error rather than a silent switch to GPT-2's vocabulary.
    /// </summary>
    /// <param name="directory">The folder.</param>
    /// <returns>The tokenizer.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="directory"/> is null.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="ModelFormatException">A tokenizer file is missing from its pair, not a regular file, larger than
    /// 256 MiB, unreadable or malformed, or <c>tokenizer.json</c> uses a feature this library does not read; the message
    /// names the file (and, for <c>tokenizer.json</c>, the JSON path).</exception>
    public static Tokenizer LoadTokenizer(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"The model folder '{directory}' does not exist.");
        }

        string fast = Path.Combine(directory, TokenizerJson.FileName);
        if (ModelFile.IsPresent(fast))
        {
            ModelFile.RequireRegularFile(fast);
            return TokenizerJson.Load(fast);
        }

        string vocabulary = Path.Combine(directory, VocabularyFileName);
        string merges = Path.Combine(directory, MergesFileName);
        bool hasVocabulary = ModelFile.IsPresent(vocabulary), hasMerges = ModelFile.IsPresent(merges);
        if (!hasVocabulary && !hasMerges)
        {
            return Gpt2Tokenizer.Default;
        }

        if (!hasVocabulary || !hasMerges)
        {
            var (missing, present) = hasVocabulary ? (merges, VocabularyFileName) : (vocabulary, MergesFileName);
            throw new ModelFormatException(missing, null,
                $"the folder has {present} but no {Path.GetFileName(missing)}; a BPE tokenizer needs both (remove {present} to use the built-in GPT-2 tokenizer).");
        }

        using var vocabularyStream = new MemoryStream(ModelFile.ReadAllBytes(vocabulary, ModelFile.MaxTokenizerBytes), writable: false);
        using var mergesStream = new MemoryStream(ModelFile.ReadAllBytes(merges, ModelFile.MaxTokenizerBytes), writable: false);
        try
        {
            return CodeGenTokenizer.Create(vocabularyStream, mergesStream, false, false, false);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidOperationException or System.Text.Json.JsonException
            or IOException or KeyNotFoundException or IndexOutOfRangeException or OverflowException)
        {
            // Microsoft.ML.Tokenizers reports a malformed merges.txt as an IOException; the files were read into memory
            // above, so every exception here is about their content.
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
        if (!ModelFile.IsPresent(path))
        {
            throw new ModelFormatException(path, null, $"the folder has no {name}.");
        }

        ModelFile.RequireRegularFile(path);
        return path;
    }
}
