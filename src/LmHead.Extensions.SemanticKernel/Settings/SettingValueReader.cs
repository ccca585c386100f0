using System.Globalization;
using System.Text.Json;

namespace LmHead.Extensions.SemanticKernel.Settings;

/// <summary>
/// Converts loosely typed setting values (JsonElement, numbers, strings, as prompt YAML/JSON and
/// <c>ToChatOptions</c> deliver them) to the typed settings, failing loudly with the setting's name.
/// </summary>
internal static class SettingValueReader
{
    /// <summary>Keys Semantic Kernel itself interprets; they are not ours to reject.</summary>
    private static readonly HashSet<string> s_semanticKernelKeys = new(StringComparer.OrdinalIgnoreCase)
    {
        "model_id", "service_id", "function_choice_behavior",
    };

    /// <summary>Applies one extension-data entry to <paramref name="settings"/>.</summary>
    /// <exception cref="ArgumentException">The key is unsupported, or the value has the wrong type or range.</exception>
    internal static void Apply(LmHeadPromptExecutionSettings settings, string key, object? value)
    {
        if (s_semanticKernelKeys.Contains(key))
        {
            return;
        }

        string? name = LmHeadSettingNames.All.FirstOrDefault(n => string.Equals(n, key, StringComparison.OrdinalIgnoreCase));
        if (name is null)
        {
            throw new ArgumentException(
                $"The execution setting '{key}' is not supported by the LmHead service. Supported settings: {string.Join(", ", LmHeadSettingNames.All)}.",
                key);
        }

        if (value is null || value is JsonElement { ValueKind: JsonValueKind.Null or JsonValueKind.Undefined })
        {
            return;
        }

        try
        {
            switch (name)
            {
                case LmHeadSettingNames.Temperature:
                    settings.Temperature = (float)ReadDouble(name, value);
                    break;
                case LmHeadSettingNames.TopK:
                    settings.TopK = ReadInt32(name, value);
                    break;
                case LmHeadSettingNames.MaxTokens:
                    settings.MaxTokens = ReadInt32(name, value);
                    break;
                case LmHeadSettingNames.Seed:
                    settings.Seed = ReadInt64(name, value);
                    break;
                case LmHeadSettingNames.LogProbabilities:
                    settings.LogProbabilities = ReadBoolean(name, value);
                    break;
                case LmHeadSettingNames.TopLogProbabilities:
                    settings.TopLogProbabilities = ReadInt32(name, value);
                    break;
                case LmHeadSettingNames.TopP:
                    settings.TopP = (float)ReadDouble(name, value);
                    break;
                case LmHeadSettingNames.MinP:
                    settings.MinP = (float)ReadDouble(name, value);
                    break;
                case LmHeadSettingNames.RepetitionPenalty:
                    settings.RepetitionPenalty = (float)ReadDouble(name, value);
                    break;
                case LmHeadSettingNames.FrequencyPenalty:
                    settings.FrequencyPenalty = (float)ReadDouble(name, value);
                    break;
                case LmHeadSettingNames.PresencePenalty:
                    settings.PresencePenalty = (float)ReadDouble(name, value);
                    break;
                case LmHeadSettingNames.AllowSpecialTokens:
                    settings.AllowSpecialTokens = ReadBoolean(name, value);
                    break;
                case LmHeadSettingNames.LogitBias:
                    settings.LogitBias = ReadBias(name, value);
                    break;
                default:
                    settings.StopSequences = ReadStrings(name, value);
                    break;
            }
        }
        catch (ArgumentException ex) when (ex.ParamName != name)
        {
            throw new ArgumentException($"The execution setting '{name}' is invalid: {ex.Message}", name, ex);
        }
    }

    internal static double ReadDouble(string name, object value)
    {
        double result = value switch
        {
            double d => d,
            float f => f,
            int i => i,
            long l => l,
            decimal m => (double)m,
            string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed) => parsed,
            JsonElement { ValueKind: JsonValueKind.Number } e => e.GetDouble(),
            JsonElement { ValueKind: JsonValueKind.String } e when double.TryParse(e.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed) => parsed,
            _ => throw WrongType(name, value, "a number"),
        };
        return result;
    }

    internal static long ReadInt64(string name, object value)
    {
        double number = ReadDouble(name, value);
        if (value is long l)
        {
            return l;
        }

        if (value is JsonElement { ValueKind: JsonValueKind.Number } e && e.TryGetInt64(out long exact))
        {
            return exact;
        }

        if (number != Math.Floor(number) || number < long.MinValue || number > long.MaxValue)
        {
            throw new ArgumentException($"The execution setting '{name}' must be a whole number, but was {Describe(value)}.", name);
        }

        return (long)number;
    }

    internal static int ReadInt32(string name, object value)
    {
        long number = ReadInt64(name, value);
        return number is >= int.MinValue and <= int.MaxValue ? (int)number
            : throw new ArgumentException($"The execution setting '{name}' is out of the range of a 32-bit integer: {number}.", name);
    }

    internal static bool ReadBoolean(string name, object value) => value switch
    {
        bool b => b,
        string s when bool.TryParse(s, out bool parsed) => parsed,
        JsonElement { ValueKind: JsonValueKind.True } => true,
        JsonElement { ValueKind: JsonValueKind.False } => false,
        JsonElement { ValueKind: JsonValueKind.String } e when bool.TryParse(e.GetString(), out bool parsed) => parsed,
        _ => throw WrongType(name, value, "true or false"),
    };

    internal static List<string> ReadStrings(string name, object value)
    {
        switch (value)
        {
            case string s:
                return [s];
            case JsonElement { ValueKind: JsonValueKind.String } e:
                return [e.GetString()!];
            case JsonElement { ValueKind: JsonValueKind.Array } e:
                return [.. e.EnumerateArray().Select(item => item.ValueKind == JsonValueKind.String ? item.GetString()! : throw WrongType(name, value, "a list of strings"))];
            case IEnumerable<string> strings:
                return [.. strings];
            case System.Collections.IEnumerable items:
                var list = new List<string>();
                foreach (object? item in items)
                {
                    list.Add(item switch
                    {
                        string s => s,
                        JsonElement { ValueKind: JsonValueKind.String } e => e.GetString()!,
                        _ => throw WrongType(name, value, "a list of strings"),
                    });
                }

                return list;
            default:
                throw WrongType(name, value, "a string or a list of strings");
        }
    }

    /// <summary>Reads a token-id → bias map from a JSON object or a dictionary (keys may be strings of digits).</summary>
    internal static Dictionary<int, float> ReadBias(string name, object value)
    {
        IEnumerable<(object Key, object? Value)> entries = value switch
        {
            JsonElement { ValueKind: JsonValueKind.Object } e => e.EnumerateObject().Select(p => ((object)p.Name, (object?)p.Value)),
            System.Collections.IDictionary d => d.Keys.Cast<object>().Select(k => (k, d[k])),
            _ => throw WrongType(name, value, "an object mapping token ids to biases"),
        };
        var result = new Dictionary<int, float>();
        foreach (var (key, item) in entries)
        {
            int token = key switch
            {
                int i => i,
                long l when l is >= 0 and <= int.MaxValue => (int)l,
                string s when int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int parsed) => parsed,
                _ => throw new ArgumentException($"The execution setting '{name}' has key '{key}', which is not a token id.", name),
            };
            result[token] = item is null ? throw WrongType(name, value, "an object mapping token ids to numbers") : (float)ReadDouble(name, item);
        }

        return result;
    }

    private static ArgumentException WrongType(string name, object value, string expected) =>
        new($"The execution setting '{name}' must be {expected}, but was {Describe(value)}.", name);

    private static string Describe(object value) => value is JsonElement e
        ? $"JSON {e.ValueKind} {e.GetRawText()}"
        : $"{value.GetType().Name} '{Convert.ToString(value, CultureInfo.InvariantCulture)}'";
}
