using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace LmHead.Extensions.Decoding;

/// <summary>
/// Reads and writes <c>logit_bias</c> as OpenAI's API does: an object whose keys are token ids and whose values are
/// numbers (or numeric strings), a value of -100 or less meaning a ban (read as -infinity, written as -100).
/// </summary>
internal sealed class LogitBiasJsonConverter : JsonConverter<IReadOnlyDictionary<int, float>>
{
    /// <summary>OpenAI's convention: a bias at or below this bans the token.</summary>
    public const float BanThreshold = -100f;

    public override IReadOnlyDictionary<int, float> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException($"logit_bias must be an object mapping token ids to numbers, but starts with {reader.TokenType}.");
        }

        var result = new Dictionary<int, float>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            string key = reader.GetString()!;
            if (!int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out int token))
            {
                throw new JsonException($"logit_bias has key '{key}', which is not a token id (a whole number from 0).");
            }

            reader.Read();
            double value = reader.TokenType switch
            {
                JsonTokenType.Number => reader.GetDouble(),
                JsonTokenType.String when double.TryParse(reader.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed) => parsed,
                _ => throw new JsonException($"logit_bias for token {token} must be a number, but is {reader.TokenType}."),
            };
            result[token] = value <= BanThreshold ? float.NegativeInfinity : (float)value;
        }

        return result;
    }

    public override void Write(Utf8JsonWriter writer, IReadOnlyDictionary<int, float> value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        foreach (var (token, bias) in value.OrderBy(p => p.Key))
        {
            writer.WriteNumber(token.ToString(CultureInfo.InvariantCulture), float.IsNegativeInfinity(bias) ? BanThreshold : bias);
        }

        writer.WriteEndObject();
    }
}
