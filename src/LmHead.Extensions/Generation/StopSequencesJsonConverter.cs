using System.Text.Json;
using System.Text.Json.Serialization;

namespace LmHead.Extensions.Generation;

/// <summary>Reads <c>stop_sequences</c> as a list of strings or a single string (as prompt files often write one stop); writes a list.</summary>
internal sealed class StopSequencesJsonConverter : JsonConverter<IReadOnlyList<string>>
{
    public override IReadOnlyList<string> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return [reader.GetString()!];
        }

        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new JsonException($"stop_sequences must be a string or a list of strings, but starts with {reader.TokenType}.");
        }

        var result = new List<string>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            result.Add(reader.TokenType == JsonTokenType.String ? reader.GetString()!
                : throw new JsonException($"stop_sequences must hold strings, but holds {reader.TokenType}."));
        }

        return result;
    }

    public override void Write(Utf8JsonWriter writer, IReadOnlyList<string> value, JsonSerializerOptions options)
    {
        writer.WriteStartArray();
        foreach (string stop in value)
        {
            writer.WriteStringValue(stop);
        }

        writer.WriteEndArray();
    }
}
