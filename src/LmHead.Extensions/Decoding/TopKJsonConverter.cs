using System.Text.Json;
using System.Text.Json.Serialization;

namespace LmHead.Extensions.Decoding;

/// <summary>
/// Writes an unset top-k as 0 (keep every token) rather than null, because a null setting means "the default" (50)
/// when prompt settings are read; reads a number (or numeric string), 0 or null.
/// </summary>
internal sealed class TopKJsonConverter : JsonConverter<int?>
{
    public override bool HandleNull => true;

    public override int? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.Null => null,
        JsonTokenType.Number when reader.TryGetInt32(out int k) => k,
        JsonTokenType.String when int.TryParse(reader.GetString(), System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out int k) => k,
        _ => throw new JsonException($"top_k must be a whole number (0 keeps every token), but is {reader.TokenType}."),
    };

    public override void Write(Utf8JsonWriter writer, int? value, JsonSerializerOptions options) => writer.WriteNumberValue(value ?? 0);
}
