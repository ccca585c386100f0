using System.Text.Json;
using System.Text.Json.Serialization;

namespace LmHead.Extensions.Models;

/// <summary>
/// The hyper-parameters of a GPT-2 model, read from and written to a Hugging Face <c>config.json</c> (same property
/// names). The defaults are those of GPT-2 small (124M).
/// </summary>
public sealed record Gpt2Config
{
    /// <summary>The only activation GPT-2 checkpoints use: the tanh approximation of GELU.</summary>
    public const string GeluNew = "gelu_new";

    private static readonly JsonSerializerOptions WriteOptions = new() { WriteIndented = true };

    /// <summary>The hidden size d.</summary>
    [JsonPropertyName("n_embd")]
    public int HiddenSize { get; init; } = 768;

    /// <summary>The number of transformer blocks.</summary>
    [JsonPropertyName("n_layer")]
    public int LayerCount { get; init; } = 12;

    /// <summary>The number of attention heads; must divide <see cref="HiddenSize"/>.</summary>
    [JsonPropertyName("n_head")]
    public int HeadCount { get; init; } = 12;

    /// <summary>The inner size of the MLP, or <see langword="null"/> for 4 × d.</summary>
    [JsonPropertyName("n_inner")]
    public int? InnerSize { get; init; }

    /// <summary>The context length: the most positions the model has embeddings for.</summary>
    [JsonPropertyName("n_positions")]
    public int MaxPositions { get; init; } = 1024;

    /// <summary>The vocabulary size V.</summary>
    [JsonPropertyName("vocab_size")]
    public int VocabularySize { get; init; } = 50257;

    /// <summary>The LayerNorm epsilon.</summary>
    [JsonPropertyName("layer_norm_epsilon")]
    public double LayerNormEpsilon { get; init; } = 1e-5;

    /// <summary>The MLP activation; only <c>gelu_new</c> is supported.</summary>
    [JsonPropertyName("activation_function")]
    public string ActivationFunction { get; init; } = GeluNew;

    /// <summary>Whether the output embeddings are the token embeddings (<c>wte</c>); otherwise <c>lm_head.weight</c> is separate.</summary>
    [JsonPropertyName("tie_word_embeddings")]
    public bool TieWordEmbeddings { get; init; } = true;

    /// <summary>The beginning-of-sequence token id.</summary>
    [JsonPropertyName("bos_token_id")]
    public int? BosTokenId { get; init; } = 50256;

    /// <summary>The end-of-sequence token id (<c>&lt;|endoftext|&gt;</c> for GPT-2); generation stops on it.</summary>
    [JsonPropertyName("eos_token_id")]
    public int? EosTokenId { get; init; } = 50256;

    /// <summary>The Hugging Face model type; must be <c>gpt2</c>.</summary>
    [JsonPropertyName("model_type")]
    public string ModelType { get; init; } = "gpt2";

    /// <summary>The Hugging Face architectures; each must be a GPT-2 class.</summary>
    [JsonPropertyName("architectures")]
    public IReadOnlyList<string>? Architectures { get; init; } = ["GPT2LMHeadModel"];

    /// <summary>Whether attention scores are divided by √head_dim; GPT-2 checkpoints use <see langword="true"/>, the only supported value.</summary>
    [JsonPropertyName("scale_attn_weights")]
    public bool ScaleAttentionWeights { get; init; } = true;

    /// <summary>A Hugging Face variant that also divides scores by the layer index; only <see langword="false"/> is supported.</summary>
    [JsonPropertyName("scale_attn_by_inverse_layer_idx")]
    public bool ScaleAttentionByInverseLayerIndex { get; init; }

    /// <summary>Whether the blocks have cross-attention (an encoder-decoder variant); only <see langword="false"/> is supported.</summary>
    [JsonPropertyName("add_cross_attention")]
    public bool AddCrossAttention { get; init; }

    /// <summary>The head size d / heads.</summary>
    [JsonIgnore]
    public int HeadSize => HiddenSize / HeadCount;

    /// <summary>The MLP inner size actually used.</summary>
    [JsonIgnore]
    public int EffectiveInnerSize => InnerSize ?? 4 * HiddenSize;

    /// <summary>Checks that the configuration describes a GPT-2 model this library can run.</summary>
    /// <exception cref="ArgumentException">A value is out of range or unsupported; the message names the JSON key.</exception>
    public void Validate()
    {
        static void Positive(int value, string key)
        {
            if (value <= 0)
            {
                throw new ArgumentException($"{key} must be positive, but is {value}.", key);
            }
        }

        if (!string.Equals(ModelType, "gpt2", StringComparison.Ordinal))
        {
            throw new ArgumentException($"model_type must be \"gpt2\", but is \"{ModelType}\"; only GPT-2 checkpoints are supported.", "model_type");
        }

        if (Architectures is not null && Architectures.Any(a => a is null || !a.StartsWith("GPT2", StringComparison.Ordinal)))
        {
            throw new ArgumentException($"architectures must name GPT-2 classes (GPT2LMHeadModel), but is [{string.Join(", ", Architectures)}].", "architectures");
        }

        Positive(HiddenSize, "n_embd");
        Positive(LayerCount, "n_layer");
        Positive(HeadCount, "n_head");
        Positive(MaxPositions, "n_positions");
        Positive(VocabularySize, "vocab_size");
        Positive(EffectiveInnerSize, "n_inner");
        if (HiddenSize % HeadCount != 0)
        {
            throw new ArgumentException($"n_embd ({HiddenSize}) must be divisible by n_head ({HeadCount}).", "n_head");
        }

        if (!(LayerNormEpsilon > 0) || double.IsInfinity(LayerNormEpsilon))
        {
            throw new ArgumentException($"layer_norm_epsilon must be positive and finite, but is {LayerNormEpsilon}.", "layer_norm_epsilon");
        }

        if (!string.Equals(ActivationFunction, GeluNew, StringComparison.Ordinal))
        {
            throw new ArgumentException(
                $"activation_function \"{ActivationFunction}\" is not supported; GPT-2 uses \"{GeluNew}\" (GELU, tanh approximation).", "activation_function");
        }

        if (!ScaleAttentionWeights || ScaleAttentionByInverseLayerIndex || AddCrossAttention)
        {
            string key = !ScaleAttentionWeights ? "scale_attn_weights" : ScaleAttentionByInverseLayerIndex ? "scale_attn_by_inverse_layer_idx" : "add_cross_attention";
            throw new ArgumentException($"{key} = {(key == "scale_attn_weights" ? "false" : "true")} is not supported; only the standard GPT-2 attention is implemented.", key);
        }

        foreach (var (id, key) in new[] { (BosTokenId, "bos_token_id"), (EosTokenId, "eos_token_id") })
        {
            if (id is { } value && (value < 0 || value >= VocabularySize))
            {
                throw new ArgumentException($"{key} ({value}) must be in [0, {VocabularySize}).", key);
            }
        }
    }

    /// <summary>Parses a Hugging Face <c>config.json</c> text and validates it.</summary>
    /// <param name="json">The JSON text.</param>
    /// <returns>The configuration.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="json"/> is null.</exception>
    /// <exception cref="JsonException">The text is not valid JSON or a value has the wrong type.</exception>
    /// <exception cref="ArgumentException">A value is out of range or unsupported.</exception>
    public static Gpt2Config FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        var config = JsonSerializer.Deserialize<Gpt2Config>(json) ?? throw new JsonException("config.json holds null instead of an object.");
        config.Validate();
        return config;
    }

    /// <summary>Loads and validates a <c>config.json</c> file.</summary>
    /// <param name="path">The file path; it must be (or link to) a regular file of at most 16 MiB of UTF-8 JSON.</param>
    /// <returns>The configuration.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="ModelFormatException">The file is missing, not a regular file (a directory, FIFO, device, dangling
    /// link or link loop), larger than 16 MiB, unreadable, not UTF-8 JSON, or describes an unsupported model.</exception>
    public static Gpt2Config Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes = ModelFile.ReadAllBytes(path, ModelFile.MaxConfigBytes);
        ReadOnlySpan<byte> content = bytes.AsSpan();
        if (content.StartsWith("\uFEFF"u8))
        {
            content = content[3..];
        }

        if (!System.Text.Unicode.Utf8.IsValid(content))
        {
            throw new ModelFormatException(path, null, "the file is not valid UTF-8 text.");
        }

        string text = System.Text.Encoding.UTF8.GetString(content);
        try
        {
            return FromJson(text);
        }
        catch (JsonException ex)
        {
            throw new ModelFormatException(path, ex.Path, $"invalid JSON: {ex.Message}", ex);
        }
        catch (ArgumentException ex)
        {
            throw new ModelFormatException(path, ex.ParamName, ex.Message, ex);
        }
    }

    /// <summary>Serializes the configuration with the Hugging Face key names.</summary>
    /// <returns>Indented JSON text.</returns>
    public string ToJson() => JsonSerializer.Serialize(this, WriteOptions);
}
