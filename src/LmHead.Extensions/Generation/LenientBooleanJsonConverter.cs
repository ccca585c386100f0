using System.Text.Json;
using System.Text.Json.Serialization;

namespace LmHead.Extensions.Generation;

/// <summary>Reads a boolean option from <c>true</c>/<c>false</c> or the strings <c>"true"</c>/<c>"false"</c> (any case), as prompt YAML delivers them.</summary>
internal sealed class LenientBooleanJsonConverter : JsonConverter<bool>
{
    public override bool Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.True => true,
        JsonTokenType.False => false,
        JsonTokenType.String when bool.TryParse(reader.GetString(), out bool value) => value,
        _ => throw new JsonException($"Expected true or false, but found {reader.TokenType}."),
    };

    public override void Write(Utf8JsonWriter writer, bool value, JsonSerializerOptions options) => writer.WriteBooleanValue(value);
}
