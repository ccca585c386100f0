using System.Globalization;
using System.Text;

namespace LmHead.Extensions.Chat.Jinja;

/// <summary>
/// The <c>tojson</c> filter as Hugging Face defines it for chat templates: Python's
/// <c>json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)</c>, byte for
/// byte (", " and ": " separators, or "," and newlines with an indent; non-ASCII text unescaped).
/// </summary>
internal static class JinjaJson
{
    public static string Serialize(object? value, int? indent, string? itemSeparator = null, string? keySeparator = null, bool sortKeys = false)
    {
        var builder = new StringBuilder();
        Write(builder, value, indent, itemSeparator ?? (indent is null ? ", " : ","), keySeparator ?? ": ", sortKeys, 0);
        return builder.ToString();
    }

    /// <summary>Python's <c>repr(float)</c>: shortest round-trip digits, <c>.0</c> on whole numbers, <c>1e-05</c> exponents.</summary>
    public static string FormatFloat(double value)
    {
        if (double.IsNaN(value))
        {
            return "NaN";
        }

        if (double.IsInfinity(value))
        {
            return value > 0 ? "Infinity" : "-Infinity";
        }

        if (value == 0)
        {
            return double.IsNegative(value) ? "-0.0" : "0.0";
        }

        // Shortest round-trip digits, then Python's layout: fixed for decimal exponents -4..15, else d.ddde+XX.
        string shortest = Math.Abs(value).ToString("R", CultureInfo.InvariantCulture);
        int e = shortest.IndexOf('E', StringComparison.Ordinal);
        string mantissa = e >= 0 ? shortest[..e] : shortest;
        int exponent = e >= 0 ? int.Parse(shortest[(e + 1)..], CultureInfo.InvariantCulture) : 0;
        int point = mantissa.IndexOf('.', StringComparison.Ordinal);
        string digits = mantissa.Replace(".", string.Empty, StringComparison.Ordinal);
        int pointPosition = (point < 0 ? mantissa.Length : point) + exponent;
        int leading = digits.Length - digits.TrimStart('0').Length;
        digits = digits.Trim('0');
        pointPosition -= leading;
        int decimalExponent = pointPosition - 1;
        string sign = value < 0 ? "-" : string.Empty;
        if (decimalExponent is >= -4 and < 16)
        {
            return sign + (pointPosition <= 0 ? "0." + new string('0', -pointPosition) + digits
                : pointPosition >= digits.Length ? digits + new string('0', pointPosition - digits.Length) + ".0"
                : digits[..pointPosition] + "." + digits[pointPosition..]);
        }

        return $"{sign}{digits[0]}{(digits.Length > 1 ? "." + digits[1..] : string.Empty)}e{(decimalExponent < 0 ? "-" : "+")}{Math.Abs(decimalExponent):00}";
    }

    private static void Write(StringBuilder builder, object? value, int? indent, string itemSeparator, string keySeparator, bool sortKeys, int depth)
    {
        switch (value)
        {
            case null or JinjaUndefined: builder.Append("null"); break;
            case bool b: builder.Append(b ? "true" : "false"); break;
            case long l: builder.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d: builder.Append(FormatFloat(d)); break;
            case string s: WriteString(builder, s); break;
            case List<object?> list:
                WriteContainer(builder, '[', ']', list.Count, indent, itemSeparator, depth, i => Write(builder, list[i], indent, itemSeparator, keySeparator, sortKeys, depth + 1));
                break;
            case OrderedDictionary<string, object?> dict:
                var entries = sortKeys ? [.. dict.OrderBy(p => p.Key, StringComparer.Ordinal)] : dict.ToList();
                WriteContainer(builder, '{', '}', entries.Count, indent, itemSeparator, depth, i =>
                {
                    WriteString(builder, entries[i].Key);
                    builder.Append(keySeparator);
                    Write(builder, entries[i].Value, indent, itemSeparator, keySeparator, sortKeys, depth + 1);
                });
                break;
            case JinjaNamespace ns:
                var copy = new OrderedDictionary<string, object?>(ns.Attributes);
                Write(builder, copy, indent, itemSeparator, keySeparator, sortKeys, depth);
                break;
            default:
                throw new ChatTemplateException($"tojson: a {JinjaValues.TypeName(value)} is not JSON serializable");
        }
    }

    private static void WriteContainer(StringBuilder builder, char open, char close, int count, int? indent, string itemSeparator, int depth, Action<int> writeItem)
    {
        builder.Append(open);
        if (count == 0)
        {
            builder.Append(close);
            return;
        }

        for (int i = 0; i < count; i++)
        {
            if (i > 0)
            {
                builder.Append(itemSeparator);
            }

            if (indent is { } size)
            {
                builder.Append('\n').Append(' ', size * (depth + 1));
            }

            writeItem(i);
        }

        if (indent is { } width)
        {
            builder.Append('\n').Append(' ', width * depth);
        }

        builder.Append(close);
    }

    private static void WriteString(StringBuilder builder, string s)
    {
        builder.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': builder.Append("\\\""); break;
                case '\\': builder.Append("\\\\"); break;
                case '\n': builder.Append("\\n"); break;
                case '\r': builder.Append("\\r"); break;
                case '\t': builder.Append("\\t"); break;
                case '\b': builder.Append("\\b"); break;
                case '\f': builder.Append("\\f"); break;
                default:
                    if (c < 0x20)
                    {
                        builder.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        builder.Append(c);
                    }

                    break;
            }
        }

        builder.Append('"');
    }
}
