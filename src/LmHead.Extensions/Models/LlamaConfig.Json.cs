using System.Text;
using System.Text.Json;

namespace LmHead.Extensions.Models;

/// <content>Reading and writing config.json.</content>
public sealed partial record LlamaConfig
{
    /// <summary>Parses a Hugging Face <c>config.json</c> text of a Llama, Qwen2 or Mistral model and validates it.</summary>
    /// <param name="json">The JSON text.</param>
    /// <returns>The configuration.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="json"/> is null.</exception>
    /// <exception cref="JsonException">The text is not valid JSON.</exception>
    /// <exception cref="ArgumentException">A value is missing, has the wrong type, is out of range or unsupported; the parameter name is the JSON key.</exception>
    public static LlamaConfig FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw Invalid("config.json must hold a JSON object.", nameof(json));
        }

        string modelType = String(root, "model_type") ?? throw Invalid("config.json has no model_type.", "model_type");
        if (String(root, "hidden_act") is { } activation && activation != "silu")
        {
            throw Invalid($"hidden_act \"{activation}\" is not supported; the Llama family uses \"silu\".", "hidden_act");
        }

        if (Boolean(root, "mlp_bias") == true)
        {
            throw Invalid("mlp_bias = true is not supported; only bias-free MLPs (every released Llama, Qwen2 and Mistral model) are implemented.", "mlp_bias");
        }

        // A key the file leaves out takes the default of the family's transformers config class (LlamaConfig,
        // Qwen2Config, MistralConfig), which differ: Mistral has 8 key/value heads, Qwen2 32 unless the file says so.
        var defaults = FamilyDefaults(modelType);
        var config = new LlamaConfig
        {
            ModelType = modelType,
            VocabularySize = Int(root, "vocab_size") ?? defaults.VocabularySize,
            HiddenSize = Int(root, "hidden_size") ?? 4096,
            IntermediateSize = Int(root, "intermediate_size") ?? defaults.IntermediateSize,
            LayerCount = Int(root, "num_hidden_layers") ?? 32,
            HeadCount = Int(root, "num_attention_heads") ?? 32,
            KeyValueHeadCount = root.TryGetProperty("num_key_value_heads", out _) ? Int(root, "num_key_value_heads") : defaults.KeyValueHeadCount,
            HeadDim = Int(root, "head_dim"),
            RmsNormEpsilon = Number(root, "rms_norm_eps") ?? 1e-6,
            RopeTheta = Number(root, "rope_theta") ?? (RopeParameters(root) is { } parameters ? Number(parameters, "rope_theta", "rope_parameters.") : null) ?? 10000,
            RopeScaling = ParseRopeScaling(root),
            MaxPositions = Int(root, "max_position_embeddings") ?? defaults.MaxPositions,
            TieWordEmbeddings = Boolean(root, "tie_word_embeddings") ?? false,
            AttentionBias = Boolean(root, "attention_bias") ?? false,
            SlidingWindow = root.TryGetProperty("sliding_window", out _) ? Int(root, "sliding_window") : defaults.SlidingWindow,
            UseSlidingWindow = Boolean(root, "use_sliding_window") ?? false,
            BosTokenId = Int(root, "bos_token_id"),
            EosTokenIds = IntList(root, "eos_token_id"),
            TorchDType = String(root, "torch_dtype") ?? String(root, "dtype"),
        };
        config.Validate();
        return config;
    }

    /// <summary>Loads and validates a <c>config.json</c> file.</summary>
    /// <param name="path">The file path; it must be (or link to) a regular file of at most 16 MiB of UTF-8 JSON.</param>
    /// <returns>The configuration.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="ModelFormatException">The file is missing, unreadable, not JSON, or describes an unsupported model; the message names the key.</exception>
    public static LlamaConfig Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text = ConfigJson.ReadText(path);
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
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("model_type", ModelType);
            writer.WriteStartArray("architectures");
            writer.WriteStringValue(ModelType switch { "qwen2" => "Qwen2ForCausalLM", "mistral" => "MistralForCausalLM", _ => "LlamaForCausalLM" });
            writer.WriteEndArray();
            writer.WriteString("hidden_act", "silu");
            writer.WriteNumber("vocab_size", VocabularySize);
            writer.WriteNumber("hidden_size", HiddenSize);
            writer.WriteNumber("intermediate_size", IntermediateSize);
            writer.WriteNumber("num_hidden_layers", LayerCount);
            writer.WriteNumber("num_attention_heads", HeadCount);
            writer.WriteNumber("num_key_value_heads", EffectiveKeyValueHeadCount);
            if (HeadDim is { } headDim)
            {
                writer.WriteNumber("head_dim", headDim);
            }

            writer.WriteNumber("rms_norm_eps", RmsNormEpsilon);
            writer.WriteNumber("rope_theta", RopeTheta);
            WriteRopeScaling(writer);
            writer.WriteNumber("max_position_embeddings", MaxPositions);
            writer.WriteBoolean("tie_word_embeddings", TieWordEmbeddings);
            writer.WriteBoolean("attention_bias", AttentionBias);
            WriteNullable(writer, "sliding_window", SlidingWindow);
            writer.WriteBoolean("use_sliding_window", UseSlidingWindow);
            WriteNullable(writer, "bos_token_id", BosTokenId);
            if (EosTokenIds.Count == 1)
            {
                writer.WriteNumber("eos_token_id", EosTokenIds[0]);
            }
            else
            {
                writer.WriteStartArray("eos_token_id");
                foreach (int id in EosTokenIds)
                {
                    writer.WriteNumberValue(id);
                }

                writer.WriteEndArray();
            }

            if (TorchDType is not null)
            {
                writer.WriteString("torch_dtype", TorchDType);
            }

            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The rotary inverse frequencies <c>1 / theta^(2i/d)</c> (i &lt; d/2), scaled by <see cref="RopeScaling"/>.</summary>
    internal double[] InverseFrequencies()
    {
        int half = EffectiveHeadDim / 2;
        double[] frequencies = new double[half];
        for (int i = 0; i < half; i++)
        {
            frequencies[i] = 1.0 / Math.Pow(RopeTheta, 2.0 * i / EffectiveHeadDim);
        }

        RopeScaling?.Apply(frequencies);
        return frequencies;
    }

    private void WriteRopeScaling(Utf8JsonWriter writer)
    {
        if (RopeScaling is not { } scaling)
        {
            writer.WriteNull("rope_scaling");
            return;
        }

        writer.WriteStartObject("rope_scaling");
        writer.WriteString("rope_type", scaling.RopeType);
        writer.WriteNumber("factor", scaling.Factor);
        if (scaling.RopeType == "llama3")
        {
            writer.WriteNumber("low_freq_factor", scaling.LowFrequencyFactor);
            writer.WriteNumber("high_freq_factor", scaling.HighFrequencyFactor);
            writer.WriteNumber("original_max_position_embeddings", scaling.OriginalMaxPositions);
        }

        writer.WriteEndObject();
    }

    private static void WriteNullable(Utf8JsonWriter writer, string key, int? value)
    {
        if (value is { } v)
        {
            writer.WriteNumber(key, v);
        }
        else
        {
            writer.WriteNull(key);
        }
    }

    /// <summary>
    /// The scaling of <c>rope_scaling</c>, or, without it, of <c>rope_parameters</c> (the form newer transformers
    /// releases write, holding <c>rope_theta</c> too); <c>rope_type</c> "default" is no scaling.
    /// </summary>
    private static LlamaRopeScaling? ParseRopeScaling(JsonElement root)
    {
        string key = "rope_scaling";
        if (!root.TryGetProperty(key, out var scaling) || scaling.ValueKind == JsonValueKind.Null)
        {
            key = "rope_parameters";
            if (RopeParameters(root) is not { } parameters)
            {
                return null;
            }

            scaling = parameters;
        }

        if (scaling.ValueKind != JsonValueKind.Object)
        {
            throw Invalid($"{key} must be an object or null, but is {scaling.ValueKind}.", key);
        }

        string prefix = key + ".";
        string type = String(scaling, "rope_type", prefix) ?? String(scaling, "type", prefix)
            ?? throw Invalid($"{key} has no rope_type (or type).", prefix + "rope_type");
        if (type == "default")
        {
            return null;
        }

        if (type is not ("llama3" or "linear"))
        {
            // Refused here, before the numbers each type needs are looked for.
            throw Invalid(
                $"{prefix}rope_type \"{type}\" is not supported; supported: \"llama3\", \"linear\", \"default\" (or no {key}).", prefix + "rope_type");
        }

        return new LlamaRopeScaling
        {
            RopeType = type,
            Factor = Number(scaling, "factor", prefix) ?? throw Invalid($"{key} has no factor.", prefix + "factor"),
            LowFrequencyFactor = Number(scaling, "low_freq_factor", prefix) ?? 1,
            HighFrequencyFactor = Number(scaling, "high_freq_factor", prefix) ?? 4,
            OriginalMaxPositions = Int(scaling, "original_max_position_embeddings", prefix) ?? 8192,
        };
    }

    /// <summary>The <c>rope_parameters</c> object, when the config has one.</summary>
    private static JsonElement? RopeParameters(JsonElement root) => Value(root, "rope_parameters") is { } value
        ? value.ValueKind == JsonValueKind.Object ? value : throw Invalid($"rope_parameters must be an object or null, but is {value.ValueKind}.", "rope_parameters")
        : null;

    /// <summary>An error naming the JSON key (as the parameter name, which <see cref="Load"/> reports as the key).</summary>
    private static ArgumentException Invalid(string message, string key) => new(message, key);

    // transformers' defaults for the keys whose defaults differ between the three config classes.
    private static (int VocabularySize, int IntermediateSize, int? KeyValueHeadCount, int MaxPositions, int? SlidingWindow) FamilyDefaults(string modelType) => modelType switch
    {
        "qwen2" => (151936, 22016, 32, 32768, 4096),
        "mistral" => (32000, 14336, 8, 4096 * 32, 4096),
        _ => (32000, 11008, null, 2048, null),
    };

    private static JsonElement? Value(JsonElement parent, string key) =>
        parent.TryGetProperty(key, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    private static string? String(JsonElement parent, string key, string prefix = "") => Value(parent, key) is not { } value ? null
        : value.ValueKind == JsonValueKind.String ? value.GetString()
        : throw Invalid($"{prefix}{key} must be a string, but is {value.ValueKind}.", prefix + key);

    private static bool? Boolean(JsonElement parent, string key) => Value(parent, key) is not { } value ? null
        : value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean()
        : throw Invalid($"{key} must be true or false, but is {value}.", key);

    private static double? Number(JsonElement parent, string key, string prefix = "") => Value(parent, key) is not { } value ? null
        : value.ValueKind == JsonValueKind.Number ? value.GetDouble()
        : throw Invalid($"{prefix}{key} must be a number, but is {value.ValueKind}.", prefix + key);

    private static int? Int(JsonElement parent, string key, string prefix = "") => Value(parent, key) is not { } value ? null
        : value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int result) ? result
        : throw Invalid($"{prefix}{key} must be a 32-bit integer, but is {value.GetRawText()}.", prefix + key);

    private static int[] IntList(JsonElement parent, string key)
    {
        if (Value(parent, key) is not { } value)
        {
            return [];
        }

        if (value.ValueKind == JsonValueKind.Number)
        {
            return [Int(parent, key)!.Value];
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            throw Invalid($"{key} must be an integer or a list of integers, but is {value.ValueKind}.", key);
        }

        return [.. value.EnumerateArray().Select(item => item.ValueKind == JsonValueKind.Number && item.TryGetInt32(out int id) ? id
            : throw Invalid($"{key} must hold integers, but holds {item.GetRawText()}.", key))];
    }
}
