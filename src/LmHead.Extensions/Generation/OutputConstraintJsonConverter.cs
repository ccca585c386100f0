using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using LmHead.Extensions.Decoding.Grammar;

namespace LmHead.Extensions.Generation;

/// <summary>
/// Reads and writes <see cref="GenerationOptions.OutputConstraint"/> in the shape of OpenAI's <c>response_format</c>:
/// <c>{"type":"text"}</c> (none), <c>{"type":"json_object"}</c>, <c>{"type":"json_schema","json_schema":{"schema":{...}}}</c>,
/// and this library's <c>{"type":"regex","pattern":"..."}</c>; an optional <c>"max_whitespace"</c> sets the JSON
/// white-space bound. The bare strings <c>"text"</c> and <c>"json_object"</c> are read too.
/// </summary>
internal sealed class OutputConstraintJsonConverter : JsonConverter<OutputConstraint?>
{
    public override bool HandleNull => true;

    public override OutputConstraint? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var node = JsonNode.Parse(ref reader);
        if (node is null)
        {
            return null;
        }

        // Semantic Kernel's OpenAI settings also spell it as a bare string.
        if (node is JsonValue bare && bare.TryGetValue(out string? name) && name is "text" or "json_object")
        {
            return name == "text" ? null : OutputConstraint.Json();
        }

        if (node is not JsonObject json || json["type"] is not JsonValue typeValue || !typeValue.TryGetValue(out string? type))
        {
            throw new JsonException("response_format must be an object with a \"type\": \"text\", \"json_object\", \"json_schema\" or \"regex\".");
        }

        int whitespace = json["max_whitespace"] is JsonValue w && w.TryGetValue(out int value) ? value : OutputConstraint.DefaultMaxWhitespace;
        try
        {
            return type switch
            {
                "text" => null,
                "json_object" => OutputConstraint.Json(whitespace),
                "json_schema" => OutputConstraint.JsonSchema(
                    (json["json_schema"]?["schema"] ?? throw new JsonException("response_format of type \"json_schema\" needs \"json_schema\": {\"schema\": {...}}.")).ToJsonString(),
                    whitespace),
                "regex" => OutputConstraint.Regex(json["pattern"]?.GetValue<string>() ?? throw new JsonException("response_format of type \"regex\" needs a \"pattern\".")),
                _ => throw new JsonException($"response_format type \"{type}\" is not supported; use \"text\", \"json_object\", \"json_schema\" or \"regex\"."),
            };
        }
        catch (ArgumentException ex)
        {
            throw new JsonException($"response_format is invalid: {ex.Message}", ex);
        }
    }

    public override void Write(Utf8JsonWriter writer, OutputConstraint? value, JsonSerializerOptions options)
    {
        if (value is null)
        {
            writer.WriteNullValue();
            return;
        }

        var json = new JsonObject();
        switch (value.Kind)
        {
            case OutputConstraintKind.Json:
                json["type"] = "json_object";
                break;
            case OutputConstraintKind.JsonSchema:
                json["type"] = "json_schema";
                json["json_schema"] = new JsonObject { ["schema"] = JsonNode.Parse(value.Text!) };
                break;
            default:
                json["type"] = "regex";
                json["pattern"] = value.Text;
                break;
        }

        if (value.Kind != OutputConstraintKind.Regex && value.MaxWhitespace != OutputConstraint.DefaultMaxWhitespace)
        {
            json["max_whitespace"] = value.MaxWhitespace;
        }

        json.WriteTo(writer);
    }
}
