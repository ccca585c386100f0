using System.Text.RegularExpressions;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// Builds a <see cref="Gpt2Model"/> from a <c>model.safetensors</c> file. The header is read once and every stored
/// tensor is matched against the model (name, shape; a tied <c>lm_head.weight</c> against <c>wte</c>) before any
/// tensor data is read, so a hostile header cannot make the loader read or allocate more than the model itself; then
/// the tensors are read one at a time straight into the parameters and checked for NaN and infinity.
/// </summary>
internal static partial class Gpt2WeightLoader
{
    private const string Prefix = "transformer.";
    private const string HeadKey = "lm_head.weight";
    private const string EmbeddingKey = "transformer.wte.weight";

    /// <summary>Loads the weights of <paramref name="weightsPath"/> into a new model; the caller owns it.</summary>
    /// <exception cref="ModelFormatException">The file is not a valid safetensors file or does not match the configuration.</exception>
    internal static Gpt2Model Load(Gpt2Config config, string weightsPath, ScalarType dtype, Device? device)
    {
        using var stream = SafeTensorsFile.Open(weightsPath, out var entries, out long dataStart);
        RequireEnoughStoredValues(config, weightsPath, entries);
        var model = new Gpt2Model(config, dtype, device);
        try
        {
            CopyWeights(model, stream, weightsPath, entries, dataStart);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Rejects a config.json whose sizes need more values than model.safetensors holds before the model's native
    /// tensors are allocated, so a hostile <c>vocab_size</c> or <c>n_positions</c> cannot make a small folder allocate
    /// gigabytes. The count is a lower bound (the weight matrices only), so a valid checkpoint always passes.
    /// </summary>
    private static void RequireEnoughStoredValues(Gpt2Config config, string weightsPath, IReadOnlyList<SafeTensorsFile.Entry> entries)
    {
        double d = config.HiddenSize, inner = config.EffectiveInnerSize;
        double needed = (config.VocabularySize + (double)config.MaxPositions) * d
            + config.LayerCount * ((4 * d * d) + (2 * d * inner))
            + (config.TieWordEmbeddings ? 0 : config.VocabularySize * d);
        double stored = 0;
        foreach (var entry in entries)
        {
            stored += entry.Shape.Aggregate(1.0, (product, size) => product * size);
        }

        if (needed > stored)
        {
            throw new ModelFormatException(weightsPath, null,
                $"config.json describes a model with at least {needed:0} weights but the file stores only {stored:0} values (wrong config.json, or a truncated file).");
        }
    }

    private static void CopyWeights(Gpt2Model model, FileStream stream, string path, IReadOnlyList<SafeTensorsFile.Entry> entries, long dataStart)
    {
        var expected = model.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        var byName = new Dictionary<string, SafeTensorsFile.Entry>(StringComparer.Ordinal);
        SafeTensorsFile.Entry? tiedHead = null;
        foreach (var entry in entries)
        {
            if (AttentionBuffer().IsMatch(entry.Name))
            {
                continue; // the causal-mask buffers old checkpoints carry; the model builds its own mask
            }

            string key = entry.Name;
            string name = key.StartsWith(Prefix, StringComparison.Ordinal) || key.StartsWith("lm_head.", StringComparison.Ordinal) ? key : Prefix + key;
            if (name == HeadKey && model.Config.TieWordEmbeddings)
            {
                tiedHead = entry; // tied: the head is wte; Hugging Face may store the same values under both names
                continue;
            }

            if (!expected.TryGetValue(name, out var parameter))
            {
                throw new ModelFormatException(path, key, "unknown tensor: a GPT-2 model with this config.json has no such parameter.");
            }

            if (!byName.TryAdd(name, entry))
            {
                throw new ModelFormatException(path, key, $"the tensor is stored twice (as '{byName[name].Name}' and '{key}').");
            }

            RequireShape(path, key, entry.Shape, parameter.shape, "config.json implies");
        }

        foreach (var name in expected.Keys)
        {
            if (!byName.ContainsKey(name))
            {
                throw new ModelFormatException(path, name, name.StartsWith(Prefix, StringComparison.Ordinal)
                    ? $"missing tensor (looked for '{name}' and '{name[Prefix.Length..]}')."
                    : $"missing tensor: config.json sets tie_word_embeddings to false, so the head needs its own '{name}'.");
            }
        }

        if (tiedHead is not null)
        {
            RequireShape(path, tiedHead.Name, tiedHead.Shape, expected[EmbeddingKey].shape,
                $"config.json ties the head to {EmbeddingKey}, of shape");
        }

        using var noGrad = no_grad();
        foreach (var (name, entry) in byName)
        {
            using var stored = SafeTensorsFile.ReadTensor(stream, path, dataStart, entry);
            using var converted = stored.to(expected[name].dtype, expected[name].device);
            RequireFinite(path, entry.Name, converted);
            expected[name].copy_(converted);
        }

        if (tiedHead is not null)
        {
            using var head = SafeTensorsFile.ReadTensor(stream, path, dataStart, tiedHead);
            using var embedding = SafeTensorsFile.ReadTensor(stream, path, dataStart, byName[EmbeddingKey]);
            RequireSameValues(path, tiedHead.Name, head, embedding);
        }
    }

    private static void RequireShape(string path, string key, long[] stored, long[] wanted, string wantedBy)
    {
        if (!stored.SequenceEqual(wanted))
        {
            throw new ModelFormatException(path, key,
                $"has shape [{string.Join(", ", stored)}] but {wantedBy} [{string.Join(", ", wanted)}].");
        }
    }

    /// <summary>
    /// NaN or infinite weights never come from training a working model; they come from a corrupt file or from values
    /// too large for the compute dtype, and would only show up later as NaN logits.
    /// </summary>
    private static void RequireFinite(string path, string key, Tensor values)
    {
        using var scope = NewDisposeScope();
        long bad = values.isfinite().logical_not().sum().item<long>();
        if (bad > 0)
        {
            throw new ModelFormatException(path, key,
                $"holds {bad} NaN or infinite values after conversion to {values.dtype} (a corrupt file, or weights too large for {values.dtype}).");
        }
    }

    /// <summary>
    /// A tied model uses wte as its head, so a stored <c>lm_head.weight</c> is accepted only when it is wte itself (the
    /// same values, up to the storage dtype); different values mean config.json and the weights disagree.
    /// </summary>
    private static void RequireSameValues(string path, string key, Tensor head, Tensor embedding)
    {
        using var scope = NewDisposeScope();
        bool same = head.dtype == embedding.dtype
            ? head.allclose(embedding, rtol: 0, atol: 0)
            : head.allclose(embedding.to_type(head.dtype), rtol: 0, atol: 0) || embedding.allclose(head.to_type(embedding.dtype), rtol: 0, atol: 0);
        if (!same)
        {
            throw new ModelFormatException(path, key,
                $"holds values other than {EmbeddingKey} but config.json sets tie_word_embeddings to true; set it to false to use this head, or remove the tensor.");
        }
    }

    [GeneratedRegex(@"^(transformer\.)?h\.\d+\.attn\.(bias|masked_bias)$", RegexOptions.CultureInvariant)]
    private static partial Regex AttentionBuffer();
}
