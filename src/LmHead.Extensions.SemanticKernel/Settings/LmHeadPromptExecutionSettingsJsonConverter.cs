using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using LmHead.Extensions.Generation;
using Microsoft.SemanticKernel;

namespace LmHead.Extensions.SemanticKernel.Settings;

/// <summary>
/// Writes <see cref="LmHeadPromptExecutionSettings"/> as the flat snake_case object prompt files use (only the options
/// that differ from the defaults, beside <c>model_id</c>, <c>service_id</c> and <c>function_choice_behavior</c>) and
/// reads it back through the same path as <see cref="LmHeadPromptExecutionSettings.FromExecutionSettings"/>.
/// </summary>
internal sealed class LmHeadPromptExecutionSettingsJsonConverter : JsonConverter<LmHeadPromptExecutionSettings>
{
    private const string ModelIdKey = "model_id", ServiceIdKey = "service_id", FunctionChoiceKey = "function_choice_behavior";

    public override LmHeadPromptExecutionSettings Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var json = JsonNode.Parse(ref reader)?.AsObject() ?? throw new JsonException("Execution settings must be a JSON object.");
        var settings = new LmHeadPromptExecutionSettings
        {
            ModelId = json[ModelIdKey]?.GetValue<string>(),
            ServiceId = json[ServiceIdKey]?.GetValue<string>(),
            FunctionChoiceBehavior = json[FunctionChoiceKey]?.Deserialize<FunctionChoiceBehavior>(options),
        };
        settings.Options = LmHeadPromptExecutionSettings.Read(
            json.Where(p => p.Key is not (ModelIdKey or ServiceIdKey or FunctionChoiceKey))
                .Select(p => new KeyValuePair<string, object?>(p.Key, p.Value is null ? null : JsonSerializer.SerializeToElement(p.Value))),
            settings.Options, ignoreHarmlessOpenAiSettings: false);
        return settings;
    }

    public override void Write(Utf8JsonWriter writer, LmHeadPromptExecutionSettings value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        if (value.ModelId is { } modelId)
        {
            writer.WriteString(ModelIdKey, modelId);
        }

        if (value.ServiceId is { } serviceId)
        {
            writer.WriteString(ServiceIdKey, serviceId);
        }

        if (value.FunctionChoiceBehavior is { } behavior)
        {
            writer.WritePropertyName(FunctionChoiceKey);
            JsonSerializer.Serialize(writer, behavior, options);
        }

        var defaults = GenerationOptionsJson.Write(new GenerationOptions());
        var written = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, node) in GenerationOptionsJson.Write(value.Options))
        {
            if (!JsonNode.DeepEquals(node, defaults[key]))
            {
                writer.WritePropertyName(key);
                if (node is null)
                {
                    writer.WriteNullValue();
                }
                else
                {
                    node.WriteTo(writer, options);
                }

                written.Add(key);
            }
        }

        foreach (var (key, extra) in value.ExtensionData ?? new Dictionary<string, object>())
        {
            if (!written.Contains(key) && key is not (ModelIdKey or ServiceIdKey or FunctionChoiceKey))
            {
                writer.WritePropertyName(key);
                JsonSerializer.Serialize(writer, extra, extra?.GetType() ?? typeof(object), options);
            }
        }

        writer.WriteEndObject();
    }
}
