using System.Collections.ObjectModel;
using System.Text.Json.Serialization;
using LmHead.Extensions.Generation;
using Microsoft.SemanticKernel;

namespace LmHead.Extensions.SemanticKernel.Settings;

/// <summary>
/// Execution settings of the LmHead text-generation service and chat client, with the snake_case JSON names Semantic
/// Kernel prompt configurations use: <c>temperature</c>, <c>top_k</c>, <c>max_tokens</c>, <c>stop_sequences</c>,
/// <c>seed</c>, <c>logprobs</c>, <c>top_logprobs</c>, <c>top_p</c>, <c>min_p</c>, <c>repetition_penalty</c>,
/// <c>frequency_penalty</c>, <c>presence_penalty</c>, <c>logit_bias</c>, <c>allow_special_tokens</c>. A property left <see langword="null"/> takes the
/// <see cref="GenerationOptions"/> default.
/// </summary>
/// <remarks>
/// Every value is validated when it is set (<see cref="ArgumentOutOfRangeException"/> naming the setting). Use
/// <see cref="FromExecutionSettings"/> to read settings of any type, including plain
/// <see cref="PromptExecutionSettings"/> whose <see cref="PromptExecutionSettings.ExtensionData"/> comes from prompt
/// YAML or JSON.
/// </remarks>
public sealed partial class LmHeadPromptExecutionSettings : PromptExecutionSettings
{
    private float? _temperature;
    private int? _topK;
    private int? _maxTokens;
    private IList<string>? _stopSequences;
    private long? _seed;
    private bool? _logProbabilities;
    private int? _topLogProbabilities;
    private bool? _allowSpecialTokens;

    /// <summary>The sampling temperature, finite and ≥ 0; 0 is greedy (<c>temperature</c>, default 0.7).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative, NaN or infinite.</exception>
    /// <exception cref="InvalidOperationException">The settings are frozen.</exception>
    [JsonPropertyName(LmHeadSettingNames.Temperature)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? Temperature
    {
        get => _temperature;
        set
        {
            ThrowIfFrozen();
            _temperature = value is null || (float.IsFinite(value.Value) && value.Value >= 0) ? value
                : throw OutOfRange(LmHeadSettingNames.Temperature, value, "finite and ≥ 0");
        }
    }

    /// <summary>Keep only the k most likely tokens; 0 keeps all (<c>top_k</c>, default 50).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    /// <exception cref="InvalidOperationException">The settings are frozen.</exception>
    [JsonPropertyName(LmHeadSettingNames.TopK)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? TopK
    {
        get => _topK;
        set
        {
            ThrowIfFrozen();
            _topK = value is null or >= 0 ? value : throw OutOfRange(LmHeadSettingNames.TopK, value, "≥ 0 (0 keeps all tokens)");
        }
    }

    /// <summary>The most tokens to generate, at least 1 (<c>max_tokens</c>, default 64).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    /// <exception cref="InvalidOperationException">The settings are frozen.</exception>
    [JsonPropertyName(LmHeadSettingNames.MaxTokens)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? MaxTokens
    {
        get => _maxTokens;
        set
        {
            ThrowIfFrozen();
            _maxTokens = value is null or >= 1 ? value : throw OutOfRange(LmHeadSettingNames.MaxTokens, value, "≥ 1");
        }
    }

    /// <summary>
    /// Texts that end generation; the output stops just before the first one and never contains it
    /// (<c>stop_sequences</c>). The settings keep their own copy of the list, so the caller's list is never changed.
    /// </summary>
    /// <exception cref="ArgumentException">An entry is null or empty.</exception>
    /// <exception cref="InvalidOperationException">The settings are frozen.</exception>
    [JsonPropertyName(LmHeadSettingNames.StopSequences)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IList<string>? StopSequences
    {
        get => _stopSequences;
        set
        {
            ThrowIfFrozen();
            if (value is not null && value.Any(string.IsNullOrEmpty))
            {
                throw new ArgumentException($"The setting '{LmHeadSettingNames.StopSequences}' must hold non-empty strings.", nameof(StopSequences));
            }

            _stopSequences = value is null ? null : [.. value];
        }
    }

    /// <summary>The seed of the request's sampler, ≥ 0, for reproducible output; null draws an unpredictable one (<c>seed</c>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    /// <exception cref="InvalidOperationException">The settings are frozen.</exception>
    [JsonPropertyName(LmHeadSettingNames.Seed)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? Seed
    {
        get => _seed;
        set
        {
            ThrowIfFrozen();
            _seed = value is null or >= 0 ? value : throw OutOfRange(LmHeadSettingNames.Seed, value, "≥ 0");
        }
    }

    /// <summary>Whether to report each generated token's log-probability in the result metadata (<c>logprobs</c>, default false).</summary>
    /// <exception cref="InvalidOperationException">The settings are frozen.</exception>
    [JsonPropertyName(LmHeadSettingNames.LogProbabilities)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? LogProbabilities
    {
        get => _logProbabilities;
        set
        {
            ThrowIfFrozen();
            _logProbabilities = value;
        }
    }

    /// <summary>How many most likely alternatives to report per token, 0 to 20 (<c>top_logprobs</c>; implies <c>logprobs</c> when above 0).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside 0 to 20.</exception>
    /// <exception cref="InvalidOperationException">The settings are frozen.</exception>
    [JsonPropertyName(LmHeadSettingNames.TopLogProbabilities)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? TopLogProbabilities
    {
        get => _topLogProbabilities;
        set
        {
            ThrowIfFrozen();
            _topLogProbabilities = value is null or (>= 0 and <= GenerationOptions.MaxTopLogProbabilities) ? value
                : throw OutOfRange(LmHeadSettingNames.TopLogProbabilities, value, $"in [0, {GenerationOptions.MaxTopLogProbabilities}]");
        }
    }

    /// <summary>
    /// Whether the literal text of a special token in the prompt (GPT-2's <c>&lt;|endoftext|&gt;</c>) encodes as that
    /// token (<c>allow_special_tokens</c>, default false: prompt text, including template arguments, encodes as plain
    /// text and cannot inject a control token).
    /// </summary>
    /// <exception cref="InvalidOperationException">The settings are frozen.</exception>
    [JsonPropertyName(LmHeadSettingNames.AllowSpecialTokens)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? AllowSpecialTokens
    {
        get => _allowSpecialTokens;
        set
        {
            ThrowIfFrozen();
            _allowSpecialTokens = value;
        }
    }

    /// <summary>Makes the settings unmodifiable, including the stop-sequence list.</summary>
    public override void Freeze()
    {
        if (IsFrozen)
        {
            return;
        }

        if (_stopSequences is not null)
        {
            _stopSequences = new ReadOnlyCollection<string>([.. _stopSequences]);
        }

        base.Freeze();
    }

    /// <summary>Creates an unfrozen copy with its own stop-sequence list and extension-data dictionary.</summary>
    /// <returns>The copy.</returns>
    public override PromptExecutionSettings Clone() => new LmHeadPromptExecutionSettings
    {
        ModelId = ModelId,
        ServiceId = ServiceId,
        FunctionChoiceBehavior = FunctionChoiceBehavior,
        ExtensionData = ExtensionData is null ? null : new Dictionary<string, object>(ExtensionData),
        Temperature = Temperature,
        TopK = TopK,
        MaxTokens = MaxTokens,
        StopSequences = StopSequences is null ? null : [.. StopSequences],
        Seed = Seed,
        LogProbabilities = LogProbabilities,
        TopLogProbabilities = TopLogProbabilities,
        AllowSpecialTokens = AllowSpecialTokens,
        TopP = TopP,
        MinP = MinP,
        RepetitionPenalty = RepetitionPenalty,
        FrequencyPenalty = FrequencyPenalty,
        PresencePenalty = PresencePenalty,
        LogitBias = LogitBias is null ? null : new Dictionary<int, float>(LogitBias),
    };

    /// <summary>
    /// Reads any execution settings as LmHead settings: a typed instance is copied, and the entries of
    /// <see cref="PromptExecutionSettings.ExtensionData"/> (as they arrive from prompt YAML or JSON: <c>JsonElement</c>,
    /// double, float, int, long, decimal, bool, string, or a list of strings for <c>stop_sequences</c>) are applied on top.
    /// </summary>
    /// <remarks>
    /// Keys are matched case-insensitively. The keys Semantic Kernel handles itself (<c>model_id</c>,
    /// <c>service_id</c>, <c>function_choice_behavior</c>) are skipped; any other unknown key, such as <c>top_p</c>,
    /// (say, <c>typical_p</c>) is an error rather than silently ignored, because a setting the model cannot honour changes the output the
    /// caller expects. A null value leaves the setting at its default. The argument is never changed.
    /// </remarks>
    /// <param name="executionSettings">The settings, or <see langword="null"/> for the defaults.</param>
    /// <returns>A new, unfrozen instance.</returns>
    /// <exception cref="ArgumentException">A value has an unsupported type or is invalid, or a key is not supported; the message names the setting.</exception>
    public static LmHeadPromptExecutionSettings FromExecutionSettings(PromptExecutionSettings? executionSettings)
    {
        if (executionSettings is null)
        {
            return new LmHeadPromptExecutionSettings();
        }

        var result = executionSettings is LmHeadPromptExecutionSettings typed
            ? (LmHeadPromptExecutionSettings)typed.Clone()
            : new LmHeadPromptExecutionSettings
            {
                ModelId = executionSettings.ModelId,
                ServiceId = executionSettings.ServiceId,
                FunctionChoiceBehavior = executionSettings.FunctionChoiceBehavior,
                ExtensionData = executionSettings.ExtensionData is null ? null : new Dictionary<string, object>(executionSettings.ExtensionData),
            };

        if (executionSettings.ExtensionData is { } extensionData)
        {
            foreach (var (key, value) in extensionData)
            {
                SettingValueReader.Apply(result, key, value);
            }
        }

        return result;
    }

    /// <summary>Converts the settings to the generator's options.</summary>
    /// <param name="extraStopSequences">Stop sequences to add after the configured ones (the chat prompt format's turn marker).</param>
    /// <returns>The options.</returns>
    internal GenerationOptions ToGenerationOptions(IEnumerable<string>? extraStopSequences = null)
    {
        var defaults = new GenerationOptions();
        IEnumerable<string> stops = StopSequences ?? [];
        if (extraStopSequences is not null)
        {
            stops = stops.Concat(extraStopSequences).Distinct(StringComparer.Ordinal);
        }

        return new GenerationOptions
        {
            Temperature = Temperature ?? defaults.Temperature,
            TopK = TopK switch { null => defaults.TopK, 0 => null, { } k => k },
            MaxNewTokens = MaxTokens ?? defaults.MaxNewTokens,
            StopSequences = [.. stops],
            Seed = Seed is { } seed ? (ulong)seed : null,
            IncludeLogProbabilities = LogProbabilities == true || TopLogProbabilities > 0,
            TopLogProbabilities = TopLogProbabilities ?? 0,
            AllowSpecialTokensInPrompt = AllowSpecialTokens == true,
            TopP = TopP,
            MinP = MinP,
            RepetitionPenalty = RepetitionPenalty,
            FrequencyPenalty = FrequencyPenalty ?? 0,
            PresencePenalty = PresencePenalty ?? 0,
            LogitBias = LogitBias is null ? new Dictionary<int, float>() : BansFromOpenAi(LogitBias),
        };
    }

    private static ArgumentOutOfRangeException OutOfRange(string setting, object? value, string range) =>
        new(setting, value, $"The setting '{setting}' must be {range}, but was {value}.");
}
