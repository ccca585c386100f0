using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using LmHead.Extensions.Decoding;

namespace LmHead.Extensions.Generation;

/// <summary>
/// The flat JSON form of <see cref="GenerationOptions"/>: one object holding the generation keys (<c>max_tokens</c>,
/// <c>stop_sequences</c>, <c>logprobs</c>, <c>top_logprobs</c>, <c>raw_logprobs</c>) beside the
/// <see cref="DecodingOptions"/> keys (<c>temperature</c>, <c>top_k</c>, ...), as prompt settings write them. The key
/// names come from the two records' own <c>[JsonPropertyName]</c> attributes, so each option is declared once.
/// </summary>
public static class GenerationOptionsJson
{
    private static readonly JsonSerializerOptions s_options = new(JsonSerializerDefaults.Web)
    {
        TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
        Converters = { new LenientBooleanJsonConverter() },
    };

    private static readonly string[] s_decodingKeys = KeysOf(typeof(DecodingOptions));
    private static readonly string[] s_generationKeys = KeysOf(typeof(GenerationOptions));

    /// <summary>The keys of <see cref="DecodingOptions"/>.</summary>
    public static IReadOnlyList<string> DecodingKeys => s_decodingKeys;

    /// <summary>The keys of <see cref="GenerationOptions"/> itself (without the decoding keys).</summary>
    public static IReadOnlyList<string> GenerationKeys => s_generationKeys;

    /// <summary>Every supported key: the generation keys, then the decoding keys.</summary>
    public static IReadOnlyList<string> AllKeys { get; } = [.. s_generationKeys, .. s_decodingKeys];

    /// <summary>
    /// Reads options from a flat JSON object. Keys match case-insensitively; a null value leaves its option at the
    /// default; numbers may be written as strings. Every value is validated by the options themselves.
    /// </summary>
    /// <param name="json">The object.</param>
    /// <param name="defaults">The options that keys not present keep (default: <c>new GenerationOptions()</c>).</param>
    /// <param name="ignoredKeys">Keys to skip without error (for example keys another layer interprets).</param>
    /// <returns>The options.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="json"/> is null.</exception>
    /// <exception cref="ArgumentException">A key is not supported, or a value has the wrong type; the message names the key.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of its range; the message names the option and its key.</exception>
    public static GenerationOptions Read(JsonObject json, GenerationOptions? defaults = null, IEnumerable<string>? ignoredKeys = null)
    {
        ArgumentNullException.ThrowIfNull(json);
        var ignored = new HashSet<string>(ignoredKeys ?? [], StringComparer.OrdinalIgnoreCase);
        var start = defaults ?? new GenerationOptions();
        var decoding = JsonSerializer.SerializeToNode(start.Decoding, s_options)!.AsObject();
        var generation = JsonSerializer.SerializeToNode(start, s_options)!.AsObject();
        foreach (var (key, value) in json)
        {
            if (ignored.Contains(key) || value is null)
            {
                continue;
            }

            string? name = s_decodingKeys.FirstOrDefault(k => string.Equals(k, key, StringComparison.OrdinalIgnoreCase));
            var target = decoding;
            if (name is null)
            {
                name = s_generationKeys.FirstOrDefault(k => string.Equals(k, key, StringComparison.OrdinalIgnoreCase));
                target = generation;
            }

            if (name is null)
            {
                throw new ArgumentException(
                    $"The setting '{key}' is not supported. Supported settings: {string.Join(", ", AllKeys)}.", key);
            }

            target[name] = value.DeepClone();
        }

        return Deserialize<GenerationOptions>(generation) with { Decoding = Deserialize<DecodingOptions>(decoding) };
    }

    /// <summary>Writes options as one flat JSON object (the form <see cref="Read"/> reads).</summary>
    /// <param name="options">The options.</param>
    /// <returns>A new object.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    public static JsonObject Write(GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var result = JsonSerializer.SerializeToNode(options, s_options)!.AsObject();
        foreach (var (key, value) in JsonSerializer.SerializeToNode(options.Decoding, s_options)!.AsObject())
        {
            result[key] = value?.DeepClone();
        }

        return result;
    }

    private static T Deserialize<T>(JsonObject json)
    {
        try
        {
            return json.Deserialize<T>(s_options)!;
        }
        catch (JsonException ex)
        {
            string key = ex.Path is { Length: > 2 } path ? path[2..].Split('.', '[')[0] : "?";
            var property = s_options.GetTypeInfo(typeof(T)).Properties.FirstOrDefault(p => p.Name == key);
            string expected = property is null ? "a valid value" : Describe(property.PropertyType);
            if (property?.PropertyType == typeof(Decoding.Grammar.OutputConstraint))
            {
                expected = $"an object {{\"type\": \"text\" | \"json_object\" | \"json_schema\" | \"regex\"}} ({ex.Message})";
            }

            string value = json[key]?.ToJsonString() ?? "null";
            throw new ArgumentException($"The setting '{key}' must be {expected}, but was {value}.", key, ex);
        }
    }

    private static string Describe(Type type) => (Nullable.GetUnderlyingType(type) ?? type) switch
    {
        var t when t == typeof(int) => "a whole number",
        var t when t == typeof(ulong) => "a whole number from 0 to 18446744073709551615",
        var t when t == typeof(float) || t == typeof(double) => "a number",
        var t when t == typeof(bool) => "true or false",
        var t when t == typeof(IReadOnlyList<string>) => "a list of strings",
        var t when t == typeof(IReadOnlyDictionary<int, float>) => "an object mapping token ids to numbers",
        var t when t == typeof(ContextOverflow) => "\"error\" or \"sliding_window\"",
        var t => $"a {t.Name}",
    };

    private static string[] KeysOf(Type type) =>
        [.. s_options.GetTypeInfo(type).Properties.Where(p => p.Get is not null && p.Set is not null).Select(p => p.Name)];
}
