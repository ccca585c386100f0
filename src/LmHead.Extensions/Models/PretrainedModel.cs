using System.Text.Json;
using LmHead.Extensions.Tokenization;
using Microsoft.ML.Tokenizers;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// A Hugging Face checkpoint folder of any supported architecture: <see cref="Load"/> reads <c>config.json</c>'s
/// <c>model_type</c> and hands the folder to that family's loader (<c>gpt2</c>, also when the key is absent:
/// <see cref="Gpt2Pretrained"/>; <c>llama</c>, <c>qwen2</c>, <c>mistral</c>: <see cref="LlamaPretrained"/>). The result is a
/// <see cref="CausalLanguageModel"/> and its tokenizer, which <see cref="Generation.TextGenerator"/>, the Semantic
/// Kernel service and the server take whatever the architecture.
/// </summary>
public sealed class PretrainedModel : IDisposable
{
    /// <summary>The <c>model_type</c> values <see cref="Load"/> accepts.</summary>
    public static IReadOnlyList<string> SupportedModelTypes { get; } = ["gpt2", .. LlamaConfig.SupportedModelTypes];

    private PretrainedModel(CausalLanguageModel model, Tokenizer tokenizer, string modelType, IReadOnlyList<int> promptPrefixTokenIds)
    {
        Model = model;
        Tokenizer = tokenizer;
        ModelType = modelType;
        PromptPrefixTokenIds = promptPrefixTokenIds;
    }

    /// <summary>The model.</summary>
    public CausalLanguageModel Model { get; }

    /// <summary>The tokenizer.</summary>
    public Tokenizer Tokenizer { get; }

    /// <summary>config.json's <c>model_type</c>.</summary>
    public string ModelType { get; }

    /// <summary>
    /// The token ids the folder's Hugging Face tokenizer puts before an encoded text: the BOS token of Llama 2/3,
    /// TinyLlama and Mistral (<c>add_bos_token</c> of <c>tokenizer_config.json</c>, the <c>TemplateProcessing</c>
    /// post-processor of <c>tokenizer.json</c>, or <c>tokenizer.model</c>'s default), empty for GPT-2 and Qwen2.
    /// <see cref="Generation.TextGenerator"/> puts them before every plain prompt that does not already start with them.
    /// </summary>
    public IReadOnlyList<int> PromptPrefixTokenIds { get; }

    /// <summary>Loads a model and its tokenizer from a folder, whichever supported architecture it holds.</summary>
    /// <param name="directory">The folder holding <c>config.json</c> and the weights.</param>
    /// <param name="dtype">
    /// The dtype of the parameters (Float32, Float16 or BFloat16), or <see langword="null"/> for the family's default:
    /// Float32 for GPT-2 (as <see cref="Gpt2Pretrained"/>), config.json's <c>torch_dtype</c> for the Llama family.
    /// </param>
    /// <param name="device">The device, or <see langword="null"/> for the CPU.</param>
    /// <returns>The loaded checkpoint; dispose it to release the model.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="directory"/> is null.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="ModelFormatException">
    /// A file is missing or malformed, <c>model_type</c> is missing or not supported, or the weights do not match the
    /// configuration; the message names the file and key.
    /// </exception>
    public static PretrainedModel Load(string directory, ScalarType? dtype = null, Device? device = null)
    {
        string modelType = ReadModelType(directory);
        if (modelType == "gpt2")
        {
            var gpt2 = Gpt2Pretrained.Load(directory, dtype ?? ScalarType.Float32, device);
            return new PretrainedModel(gpt2.Model, gpt2.Tokenizer, modelType, []);
        }

        var llama = LlamaPretrained.LoadModel(directory, dtype, device);
        try
        {
            var tokenizer = LlamaPretrained.LoadTokenizer(directory);
            return new PretrainedModel(llama, tokenizer, modelType, PromptPrefix.Read(directory, llama.BosTokenId, llama.VocabularySize));
        }
        catch
        {
            llama.Dispose();
            throw;
        }
    }

    /// <summary>Loads only the model of a folder, whichever supported architecture it holds.</summary>
    /// <param name="directory">The folder holding <c>config.json</c> and the weights.</param>
    /// <param name="dtype">The dtype of the parameters, or <see langword="null"/> for the family's default (see <see cref="Load"/>).</param>
    /// <param name="device">The device, or <see langword="null"/> for the CPU.</param>
    /// <returns>The model; the caller disposes it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="directory"/> is null.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="ModelFormatException">A file is missing or malformed, or <c>model_type</c> is missing or not supported.</exception>
    public static CausalLanguageModel LoadModel(string directory, ScalarType? dtype = null, Device? device = null) =>
        ReadModelType(directory) == "gpt2"
            ? Gpt2Pretrained.LoadModel(directory, dtype ?? ScalarType.Float32, device)
            : LlamaPretrained.LoadModel(directory, dtype, device);

    /// <summary>Reads <c>model_type</c> from a folder's <c>config.json</c> and checks that it is supported.</summary>
    /// <param name="directory">The folder.</param>
    /// <returns>The model type, one of <see cref="SupportedModelTypes"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="directory"/> is null.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="ModelFormatException">config.json is missing or malformed, or <c>model_type</c> is missing or not supported.</exception>
    public static string ReadModelType(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"The model folder '{directory}' does not exist.");
        }

        string path = Path.Combine(directory, Gpt2Pretrained.ConfigFileName);
        if (!ModelFile.IsPresent(path))
        {
            throw new ModelFormatException(path, null, $"the folder has no {Gpt2Pretrained.ConfigFileName}.");
        }

        string supported = string.Join(", ", SupportedModelTypes);
        using var document = ConfigJson.Parse(path);
        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            throw new ModelFormatException(path, null, "config.json must hold a JSON object.");
        }

        if (!document.RootElement.TryGetProperty("model_type", out var type))
        {
            return "gpt2"; // the default of Gpt2Config, which has always read such folders as GPT-2
        }

        if (type.ValueKind != JsonValueKind.String)
        {
            throw new ModelFormatException(path, "model_type", $"model_type must be a string, but is {type.ValueKind}; supported model types are {supported}.");
        }

        string modelType = type.GetString()!;
        return SupportedModelTypes.Contains(modelType, StringComparer.Ordinal)
            ? modelType
            : throw new ModelFormatException(path, "model_type", $"model_type \"{modelType}\" is not supported; supported model types are {supported}.");
    }

    /// <summary>Releases the model.</summary>
    public void Dispose() => Model.Dispose();
}
