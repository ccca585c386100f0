using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using LmHead.Extensions.Generation;
using Microsoft.SemanticKernel;

namespace LmHead.Extensions.SemanticKernel.Settings;

/// <summary>
/// Execution settings of the LmHead text-generation service and chat client: a <see cref="GenerationOptions"/> (which
/// holds the <see cref="Decoding.DecodingOptions"/>), read from prompt YAML or JSON by their snake_case names
/// (<see cref="LmHeadSettingNames.All"/>: <c>temperature</c>, <c>top_k</c>, <c>max_tokens</c>, ...).
/// </summary>
/// <remarks>
/// The options are declared once, in <see cref="GenerationOptions"/> and <see cref="Decoding.DecodingOptions"/>, and
/// validated there. <see cref="FromExecutionSettings"/> reads any <see cref="PromptExecutionSettings"/> by one JSON
/// round trip of its <see cref="PromptExecutionSettings.ExtensionData"/>: keys match case-insensitively, a null value
/// keeps the default, and an unknown key is an error naming it (a setting the model cannot honour changes the output
/// the caller expects), unless it is one of <see cref="LmHeadSettingNames.HarmlessOpenAiSettings"/> and the service
/// was told to ignore those.
/// </remarks>
[JsonConverter(typeof(LmHeadPromptExecutionSettingsJsonConverter))]
public sealed class LmHeadPromptExecutionSettings : PromptExecutionSettings
{
    /// <summary>Keys Semantic Kernel itself interprets; they are not ours to reject.</summary>
    private static readonly string[] s_semanticKernelKeys = ["model_id", "service_id", "function_choice_behavior"];

    private GenerationOptions _options = new();

    /// <summary>Creates settings with the default options.</summary>
    public LmHeadPromptExecutionSettings()
    {
    }

    /// <summary>Creates settings holding <paramref name="options"/>.</summary>
    /// <param name="options">The generation and decoding options.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    public LmHeadPromptExecutionSettings(GenerationOptions options)
    {
        Options = options;
    }

    /// <summary>The generation options, with the decoding options in <see cref="GenerationOptions.Decoding"/>.</summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    /// <exception cref="InvalidOperationException">The settings are frozen.</exception>
    [JsonIgnore]
    public GenerationOptions Options
    {
        get => _options;
        set
        {
            ThrowIfFrozen();
            _options = value ?? throw new ArgumentNullException(nameof(Options));
        }
    }

    /// <summary>Creates an unfrozen copy with its own extension-data dictionary (the options are immutable and shared).</summary>
    /// <returns>The copy.</returns>
    public override PromptExecutionSettings Clone() => new LmHeadPromptExecutionSettings(Options)
    {
        ModelId = ModelId,
        ServiceId = ServiceId,
        FunctionChoiceBehavior = FunctionChoiceBehavior,
        ExtensionData = ExtensionData is null ? null : new Dictionary<string, object>(ExtensionData),
    };

    /// <summary>
    /// Reads any execution settings as LmHead settings: a typed instance keeps its <see cref="Options"/>, and the
    /// entries of <see cref="PromptExecutionSettings.ExtensionData"/> (as they arrive from prompt YAML or JSON) are
    /// applied on top by one JSON round trip into <see cref="GenerationOptionsJson.Read"/>.
    /// </summary>
    /// <param name="executionSettings">The settings, or <see langword="null"/> for the defaults.</param>
    /// <param name="ignoreHarmlessOpenAiSettings">Skip <see cref="LmHeadSettingNames.HarmlessOpenAiSettings"/> instead of rejecting them (<c>n</c> must still be 1).</param>
    /// <returns>A new, unfrozen instance; the argument is never changed.</returns>
    /// <exception cref="ArgumentException">A key is not supported, or a value has the wrong type; the message names the setting.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the message names the setting.</exception>
    public static LmHeadPromptExecutionSettings FromExecutionSettings(PromptExecutionSettings? executionSettings, bool ignoreHarmlessOpenAiSettings = false)
    {
        if (executionSettings is null)
        {
            return new LmHeadPromptExecutionSettings();
        }

        var result = new LmHeadPromptExecutionSettings((executionSettings as LmHeadPromptExecutionSettings)?.Options ?? new GenerationOptions())
        {
            ModelId = executionSettings.ModelId,
            ServiceId = executionSettings.ServiceId,
            FunctionChoiceBehavior = executionSettings.FunctionChoiceBehavior,
            ExtensionData = executionSettings.ExtensionData is null ? null : new Dictionary<string, object>(executionSettings.ExtensionData),
        };
        if (executionSettings.ExtensionData is { Count: > 0 } data)
        {
            result.Options = Read(data.Select(p => new KeyValuePair<string, object?>(p.Key, p.Value)), result.Options, ignoreHarmlessOpenAiSettings);
        }

        return result;
    }

    /// <summary>Applies loosely typed settings (prompt extension data, chat additional properties) to <paramref name="defaults"/>.</summary>
    internal static GenerationOptions Read(IEnumerable<KeyValuePair<string, object?>> data, GenerationOptions defaults, bool ignoreHarmlessOpenAiSettings)
    {
        var json = new JsonObject();
        var originals = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in data)
        {
            originals[key] = value;
            json[key] = value switch
            {
                null => null,

                // SK's OpenAI connector takes a .NET type as response_format for structured output: its JSON schema.
                Type type when string.Equals(key, "response_format", StringComparison.OrdinalIgnoreCase) => new JsonObject
                {
                    ["type"] = "json_schema",
                    ["json_schema"] = new JsonObject { ["schema"] = JsonNode.Parse(Microsoft.Extensions.AI.AIJsonUtilities.CreateJsonSchema(type).GetRawText()) },
                },
                _ => JsonSerializer.SerializeToNode(value, value.GetType()),
            };
        }

        var ignored = new List<string>(s_semanticKernelKeys);
        if (ignoreHarmlessOpenAiSettings)
        {
            if (json["n"] is { } n && n.ToJsonString() != "1")
            {
                throw new ArgumentOutOfRangeException(nameof(data), n.ToJsonString(), $"The setting 'n' asks for {n.ToJsonString()} completions; the LmHead service returns exactly one (n = 1).");
            }

            ignored.AddRange(LmHeadSettingNames.HarmlessOpenAiSettings);
        }

        try
        {
            return GenerationOptionsJson.Read(json, defaults, ignored);
        }
        catch (ArgumentException ex) when (ex is not ArgumentOutOfRangeException && ex.ParamName is { } key && originals.TryGetValue(key, out object? value) && value is not null)
        {
            string message = ex.Message.Replace($" (Parameter '{key}')", "", StringComparison.Ordinal);
            throw new ArgumentException($"{message} (The value was {Describe(value)}.)", key, ex);
        }
    }

    /// <summary>Fixes the request's decoding to <paramref name="pipeline"/> (a service's served chain), rejecting decoding settings.</summary>
    /// <exception cref="ArgumentException">The request sets a decoding option while the service's pipeline decides every token.</exception>
    internal static GenerationOptions WithPipeline(GenerationOptions options, Decoding.DecodingPipeline? pipeline)
    {
        if (pipeline is null)
        {
            return options;
        }

        var fixedOptions = options with { Pipeline = pipeline };
        try
        {
            _ = fixedOptions.BuildPipeline();
        }
        catch (InvalidOperationException ex)
        {
            throw new ArgumentException(ex.Message, nameof(options), ex);
        }

        return fixedOptions;
    }

    /// <summary>The options for a request, with <paramref name="extraStopSequences"/> (a chat format's turn marker) added.</summary>
    internal GenerationOptions ToGenerationOptions(IEnumerable<string>? extraStopSequences = null) => extraStopSequences is null
        ? Options
        : Options with { StopSequences = [.. Options.StopSequences.Concat(extraStopSequences).Distinct(StringComparer.Ordinal)] };

    private static string Describe(object value) => value is JsonElement e
        ? $"JSON {e.ValueKind} {e.GetRawText()}"
        : $"{value.GetType().Name} '{Convert.ToString(value, CultureInfo.InvariantCulture)}'";
}
