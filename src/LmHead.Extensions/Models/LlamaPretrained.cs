using System.Globalization;
using System.Text.Json;
using LmHead.Extensions.Tokenization;
using Microsoft.ML.Tokenizers;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// A Llama, Qwen2 or Mistral checkpoint in the Hugging Face folder layout: <c>config.json</c> and either
/// <c>model.safetensors</c> or the shards listed by <c>model.safetensors.index.json</c>. <see cref="LoadModel"/> reads
/// one into a <see cref="LlamaModel"/>; <see cref="Save"/> writes a model in the same layout (single file or sharded).
/// Most callers use <see cref="PretrainedModel.Load"/>, which picks the family from <c>model_type</c>.
/// </summary>
public static class LlamaPretrained
{
    /// <summary>The single weights file name.</summary>
    public const string WeightsFileName = "model.safetensors";

    /// <summary>The index of a sharded checkpoint.</summary>
    public const string WeightsIndexFileName = "model.safetensors.index.json";

    /// <summary>Loads the model of a folder.</summary>
    /// <param name="directory">The folder holding <c>config.json</c> and the weights.</param>
    /// <param name="dtype">The dtype of the parameters (Float32, Float16 or BFloat16), or <see langword="null"/> for config.json's <c>torch_dtype</c> (Float32 when absent).</param>
    /// <param name="device">The device, or <see langword="null"/> for the CPU.</param>
    /// <returns>The model; the caller disposes it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="directory"/> is null.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="ModelFormatException">A file is missing or malformed, or the weights do not match config.json; the message names the file and key.</exception>
    public static LlamaModel LoadModel(string directory, ScalarType? dtype = null, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"The model folder '{directory}' does not exist.");
        }

        string configPath = Path.Combine(directory, Gpt2Pretrained.ConfigFileName);
        if (!ModelFile.IsPresent(configPath))
        {
            throw new ModelFormatException(configPath, null, $"the folder has no {Gpt2Pretrained.ConfigFileName}.");
        }

        var config = LlamaConfig.Load(configPath);
        return LlamaWeightLoader.Load(config, directory, dtype ?? StoredDType(config, configPath), device);
    }

    /// <summary>
    /// Loads the folder's tokenizer: <c>tokenizer.json</c> (byte-level BPE or SentencePiece-style BPE with byte fallback),
    /// else <c>vocab.json</c> + <c>merges.txt</c> (byte-level BPE), else a SentencePiece <c>tokenizer.model</c> (read by
    /// Microsoft.ML.Tokenizers' <see cref="LlamaTokenizer"/>, which adds no BOS token: chat templates write it).
    /// Unlike GPT-2 folders, a folder without any of them is an error, never GPT-2's vocabulary.
    /// </summary>
    /// <param name="directory">The folder.</param>
    /// <returns>The tokenizer.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="directory"/> is null.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="ModelFormatException">The folder has no tokenizer files this library reads, or they are malformed.</exception>
    public static Tokenizer LoadTokenizer(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"The model folder '{directory}' does not exist.");
        }

        switch (FindTokenizerSource(directory))
        {
            case TokenizerSource.SentencePieceModel:
                return SentencePieceModel.Load(Path.Combine(directory, SentencePieceModel.FileName));
            case TokenizerSource.None:
                throw new ModelFormatException(Path.Combine(directory, Gpt2Pretrained.VocabularyFileName), null,
                    $"the folder has no {TokenizerJson.FileName}, no {Gpt2Pretrained.VocabularyFileName} + {Gpt2Pretrained.MergesFileName} and no {SentencePieceModel.FileName}, the tokenizer files this loader reads; "
                    + "load the model alone with PretrainedModel.LoadModel and give TextGenerator the model's tokenizer.");
            default:
                return Gpt2Pretrained.LoadTokenizer(directory);
        }
    }

    /// <summary>
    /// Which of a folder's files <see cref="LoadTokenizer"/> reads: <c>tokenizer.json</c> first (what Llama-family
    /// checkpoints ship), then <c>vocab.json</c> + <c>merges.txt</c> (either present: a missing partner is the loader's
    /// error to report), then <c>tokenizer.model</c>; never GPT-2's built-in vocabulary, which would not match the ids.
    /// <see cref="Tokenization.PromptPrefix"/> asks the same question (a <c>tokenizer.model</c> tokenizer adds BOS).
    /// </summary>
    internal static TokenizerSource FindTokenizerSource(string directory)
    {
        if (ModelFile.IsPresent(Path.Combine(directory, TokenizerJson.FileName)))
        {
            return TokenizerSource.TokenizerJson;
        }

        if (ModelFile.IsPresent(Path.Combine(directory, Gpt2Pretrained.VocabularyFileName)) || ModelFile.IsPresent(Path.Combine(directory, Gpt2Pretrained.MergesFileName)))
        {
            return TokenizerSource.VocabularyAndMerges;
        }

        return ModelFile.IsPresent(Path.Combine(directory, SentencePieceModel.FileName)) ? TokenizerSource.SentencePieceModel : TokenizerSource.None;
    }

    /// <summary>The tokenizer files of a folder, in the order <see cref="FindTokenizerSource"/> looks for them.</summary>
    internal enum TokenizerSource
    {
        /// <summary><c>tokenizer.json</c>.</summary>
        TokenizerJson,

        /// <summary><c>vocab.json</c> + <c>merges.txt</c>.</summary>
        VocabularyAndMerges,

        /// <summary>A SentencePiece <c>tokenizer.model</c>.</summary>
        SentencePieceModel,

        /// <summary>None of them.</summary>
        None,
    }

    /// <summary>Saves a model as <c>config.json</c> plus <c>model.safetensors</c>, or shards and their index.</summary>
    /// <param name="model">The model.</param>
    /// <param name="directory">The folder; created if missing, existing files overwritten.</param>
    /// <param name="storageDtype">The dtype to store (Float32, Float16 or BFloat16), or <see langword="null"/> for the model's own.</param>
    /// <param name="maxShardBytes">
    /// The largest shard, in bytes, or <see langword="null"/> for a single <c>model.safetensors</c>. With a limit the
    /// tensors are written, in parameter order, to <c>model-00001-of-0000N.safetensors</c>, ... (a tensor larger than the
    /// limit gets a shard of its own) and <c>model.safetensors.index.json</c> maps each name to its shard.
    /// </param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="storageDtype"/> is not a supported floating-point type.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxShardBytes"/> is not positive.</exception>
    /// <exception cref="ObjectDisposedException"><paramref name="model"/> has been disposed.</exception>
    public static void Save(LlamaModel model, string directory, ScalarType? storageDtype = null, long? maxShardBytes = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(directory);
        if (storageDtype is { } requested && requested is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64))
        {
            throw new ArgumentException($"storageDtype must be Float32, Float16, BFloat16 or Float64, but is {requested}.", nameof(storageDtype));
        }

        if (maxShardBytes is <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(maxShardBytes), maxShardBytes, "maxShardBytes must be positive (or null for a single file).");
        }

        using var use = model.EnterUse();
        Directory.CreateDirectory(directory);
        var dtype = storageDtype ?? model.DType;
        var config = model.Config with { TorchDType = DTypeName(dtype) };
        File.WriteAllText(Path.Combine(directory, Gpt2Pretrained.ConfigFileName), config.ToJson());
        using var scope = NewDisposeScope();
        var tensors = model.named_parameters()
            .Select(p => new KeyValuePair<string, Tensor>(p.name, p.parameter.dtype == dtype ? p.parameter : p.parameter.to_type(dtype)))
            .ToList();
        if (maxShardBytes is not { } limit)
        {
            SafeTensorsFile.Write(Path.Combine(directory, WeightsFileName), tensors);
            return;
        }

        var shards = new List<List<KeyValuePair<string, Tensor>>>();
        long current = long.MaxValue;
        foreach (var pair in tensors)
        {
            long size = pair.Value.numel() * pair.Value.element_size();
            if (current + size > limit || shards.Count == 0)
            {
                shards.Add([]);
                current = 0;
            }

            shards[^1].Add(pair);
            current += size;
        }

        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < shards.Count; i++)
        {
            string name = string.Create(CultureInfo.InvariantCulture, $"model-{i + 1:00000}-of-{shards.Count:00000}.safetensors");
            SafeTensorsFile.Write(Path.Combine(directory, name), shards[i]);
            foreach (var (key, _) in shards[i])
            {
                weightMap[key] = name;
            }
        }

        long total = tensors.Sum(t => t.Value.numel() * t.Value.element_size());
        var index = new { metadata = new { total_size = total }, weight_map = weightMap };
        File.WriteAllText(Path.Combine(directory, WeightsIndexFileName), JsonSerializer.Serialize(index, IndentedJson));
    }

    private static readonly JsonSerializerOptions IndentedJson = new() { WriteIndented = true };

    private static ScalarType StoredDType(LlamaConfig config, string configPath) => config.TorchDType switch
    {
        null or "float32" => ScalarType.Float32,
        "float16" => ScalarType.Float16,
        "bfloat16" => ScalarType.BFloat16,
        "float64" => ScalarType.Float64,
        { } other => throw new ModelFormatException(configPath, "torch_dtype",
            $"torch_dtype \"{other}\" is not supported; supported: float32, float16, bfloat16 (or pass a dtype explicitly)."),
    };

    private static string DTypeName(ScalarType dtype) => dtype switch
    {
        ScalarType.Float16 => "float16",
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Float64 => "float64",
        _ => "float32",
    };
}
