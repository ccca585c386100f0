using System.Text.Json;

namespace LmHead.Extensions.Models;

/// <summary>
/// The hyper-parameters of a Llama-family decoder (Hugging Face <c>LlamaConfig</c>, <c>Qwen2Config</c>,
/// <c>MistralConfig</c>), with config.json's key names in every message. Defaults are Hugging Face's.
/// </summary>
/// <remarks>
/// A sliding attention window (<c>sliding_window</c> for Mistral; for Qwen2 only with <c>use_sliding_window</c>) is
/// honoured by limiting the context to the window (<see cref="ContextLength"/>): within the window, sliding attention
/// equals full attention, so every position the model accepts is computed exactly.
/// </remarks>
public sealed partial record LlamaConfig
{
    /// <summary>The <c>model_type</c> values this configuration describes.</summary>
    public static IReadOnlyList<string> SupportedModelTypes { get; } = ["llama", "qwen2", "mistral"];

    /// <summary><c>model_type</c>: <c>llama</c>, <c>qwen2</c> or <c>mistral</c>.</summary>
    public string ModelType { get; init; } = "llama";

    /// <summary><c>vocab_size</c>.</summary>
    public int VocabularySize { get; init; } = 32000;

    /// <summary><c>hidden_size</c>.</summary>
    public int HiddenSize { get; init; } = 4096;

    /// <summary><c>intermediate_size</c>: the width of the SwiGLU MLP.</summary>
    public int IntermediateSize { get; init; } = 11008;

    /// <summary><c>num_hidden_layers</c>.</summary>
    public int LayerCount { get; init; } = 32;

    /// <summary><c>num_attention_heads</c>.</summary>
    public int HeadCount { get; init; } = 32;

    /// <summary><c>num_key_value_heads</c> (grouped-query attention); <see langword="null"/> means <see cref="HeadCount"/>.</summary>
    public int? KeyValueHeadCount { get; init; }

    /// <summary><c>head_dim</c>; <see langword="null"/> means <c>hidden_size / num_attention_heads</c>.</summary>
    public int? HeadDim { get; init; }

    /// <summary><c>rms_norm_eps</c>.</summary>
    public double RmsNormEpsilon { get; init; } = 1e-6;

    /// <summary><c>rope_theta</c>: the base of the rotary frequencies.</summary>
    public double RopeTheta { get; init; } = 10000;

    /// <summary><c>rope_scaling</c>, or <see langword="null"/> for none.</summary>
    public LlamaRopeScaling? RopeScaling { get; init; }

    /// <summary><c>max_position_embeddings</c>.</summary>
    public int MaxPositions { get; init; } = 2048;

    /// <summary><c>tie_word_embeddings</c>: whether the head is <c>embed_tokens</c> (no <c>lm_head.weight</c>).</summary>
    public bool TieWordEmbeddings { get; init; }

    /// <summary>Whether q/k/v/o projections have biases (Llama's <c>attention_bias</c>); Qwen2's q/k/v always have them.</summary>
    public bool AttentionBias { get; init; }

    /// <summary><c>sliding_window</c>, or <see langword="null"/> for none.</summary>
    public int? SlidingWindow { get; init; }

    /// <summary>Qwen2's <c>use_sliding_window</c> (Mistral always uses its <c>sliding_window</c>).</summary>
    public bool UseSlidingWindow { get; init; }

    /// <summary><c>bos_token_id</c>.</summary>
    public int? BosTokenId { get; init; }

    /// <summary><c>eos_token_id</c>: an id or a list of ids.</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    /// <summary><c>torch_dtype</c> (<c>float32</c>, <c>float16</c>, <c>bfloat16</c>), or <see langword="null"/>.</summary>
    public string? TorchDType { get; init; }

    /// <summary>The key/value head count actually used.</summary>
    public int EffectiveKeyValueHeadCount => KeyValueHeadCount ?? HeadCount;

    /// <summary>The head size actually used.</summary>
    public int EffectiveHeadDim => HeadDim ?? (HeadCount > 0 ? HiddenSize / HeadCount : 0);

    /// <summary>Whether q, k and v have biases: always for Qwen2, else <see cref="AttentionBias"/>.</summary>
    public bool HasQkvBias => ModelType == "qwen2" || AttentionBias;

    /// <summary>Whether o_proj has a bias (Llama's <c>attention_bias</c>; never for Qwen2).</summary>
    public bool HasOutputBias => ModelType != "qwen2" && AttentionBias;

    /// <summary>The sliding window in force, or <see langword="null"/>.</summary>
    public int? EffectiveSlidingWindow => ModelType switch
    {
        "mistral" => SlidingWindow,
        "qwen2" => UseSlidingWindow ? SlidingWindow : null,
        _ => null,
    };

    /// <summary>The most positions a sequence may hold: <c>max_position_embeddings</c>, or the sliding window if smaller.</summary>
    public int ContextLength => EffectiveSlidingWindow is { } window && window < MaxPositions ? window : MaxPositions;

    /// <summary>Checks that the configuration describes a model this library can run.</summary>
    /// <exception cref="ArgumentException">A value is out of range or unsupported; the parameter name is the JSON key.</exception>
    public void Validate()
    {
        static void Positive(long value, string key)
        {
            if (value <= 0)
            {
                throw new ArgumentException($"{key} must be positive, but is {value}.", key);
            }
        }

        if (!SupportedModelTypes.Contains(ModelType, StringComparer.Ordinal))
        {
            throw new ArgumentException($"model_type \"{ModelType}\" is not a Llama-family type; supported: {string.Join(", ", SupportedModelTypes)}.", "model_type");
        }

        Positive(VocabularySize, "vocab_size");
        Positive(HiddenSize, "hidden_size");
        Positive(IntermediateSize, "intermediate_size");
        Positive(LayerCount, "num_hidden_layers");
        Positive(HeadCount, "num_attention_heads");
        Positive(EffectiveKeyValueHeadCount, "num_key_value_heads");
        Positive(MaxPositions, "max_position_embeddings");
        if (HeadDim is null && HiddenSize % HeadCount != 0)
        {
            throw new ArgumentException($"hidden_size ({HiddenSize}) must be divisible by num_attention_heads ({HeadCount}) when head_dim is absent.", "num_attention_heads");
        }

        Positive(EffectiveHeadDim, "head_dim");
        if (EffectiveHeadDim % 2 != 0)
        {
            throw new ArgumentException($"head_dim must be even for rotary embeddings, but is {EffectiveHeadDim}.", "head_dim");
        }

        if (HeadCount % EffectiveKeyValueHeadCount != 0)
        {
            throw new ArgumentException(
                $"num_attention_heads ({HeadCount}) must be a multiple of num_key_value_heads ({EffectiveKeyValueHeadCount}).", "num_key_value_heads");
        }

        if (!(RmsNormEpsilon > 0) || double.IsInfinity(RmsNormEpsilon))
        {
            throw new ArgumentException($"rms_norm_eps must be positive and finite, but is {RmsNormEpsilon}.", "rms_norm_eps");
        }

        if (!(RopeTheta > 0) || double.IsInfinity(RopeTheta))
        {
            throw new ArgumentException($"rope_theta must be positive and finite, but is {RopeTheta}.", "rope_theta");
        }

        ValidateRopeScaling();
        if (EffectiveSlidingWindow is { } window)
        {
            Positive(window, "sliding_window");
        }

        if (BosTokenId is { } bos && (bos < 0 || bos >= VocabularySize))
        {
            throw new ArgumentException($"bos_token_id ({bos}) must be in [0, {VocabularySize}).", "bos_token_id");
        }

        if (EosTokenIds.FirstOrDefault(id => id < 0 || id >= VocabularySize, -1) is var eos and not -1)
        {
            throw new ArgumentException($"eos_token_id ({eos}) must be in [0, {VocabularySize}).", "eos_token_id");
        }
    }

    private void ValidateRopeScaling()
    {
        if (RopeScaling is not { } scaling)
        {
            return;
        }

        if (scaling.RopeType is not ("llama3" or "linear"))
        {
            throw new ArgumentException(
                $"rope_scaling.rope_type \"{scaling.RopeType}\" is not supported; supported: \"llama3\", \"linear\" (or no rope_scaling).", "rope_scaling.rope_type");
        }

        if (!(scaling.Factor >= 1) || double.IsInfinity(scaling.Factor))
        {
            throw new ArgumentException($"rope_scaling.factor must be finite and at least 1, but is {scaling.Factor}.", "rope_scaling.factor");
        }

        if (scaling.RopeType == "llama3"
            && (!(scaling.LowFrequencyFactor > 0) || !(scaling.HighFrequencyFactor > scaling.LowFrequencyFactor) || double.IsInfinity(scaling.HighFrequencyFactor)))
        {
            throw new ArgumentException(
                $"rope_scaling needs 0 < low_freq_factor < high_freq_factor, but they are {scaling.LowFrequencyFactor} and {scaling.HighFrequencyFactor}.", "rope_scaling.high_freq_factor");
        }

        if (scaling.RopeType == "llama3" && scaling.OriginalMaxPositions <= 0)
        {
            throw new ArgumentException(
                $"rope_scaling.original_max_position_embeddings must be positive, but is {scaling.OriginalMaxPositions}.", "rope_scaling.original_max_position_embeddings");
        }
    }
}
