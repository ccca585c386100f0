using System.Globalization;
using System.Text;

namespace LmHead.Extensions.Chat.Jinja;

/// <content>The global functions Hugging Face gives chat templates: <c>raise_exception</c>, <c>strftime_now</c>,
/// plus Jinja's <c>namespace</c>, <c>range</c> and <c>dict</c>.</content>
internal sealed partial class JinjaRenderer
{
    private void AddBuiltIns(JinjaScope root)
    {
        root.Set("raise_exception", new JinjaFunction((arguments, _) =>
            throw new ChatTemplateException($"the chat template raised an error: {(arguments.Count > 0 ? JinjaValues.ToText(arguments[0]) : string.Empty)}")));
        root.Set("strftime_now", new JinjaFunction((arguments, _) =>
            StrFTime(arguments.Count > 0 ? JinjaValues.ToText(arguments[0]) : string.Empty, _clock())));
        root.Set("namespace", new JinjaFunction((arguments, named) =>
        {
            var ns = new JinjaNamespace();
            foreach (var (key, value) in named)
            {
                ns.Attributes[key] = value;
            }

            return ns;
        }));
        root.Set("dict", new JinjaFunction((_, named) => new OrderedDictionary<string, object?>(named, StringComparer.Ordinal)));
        root.Set("range", new JinjaFunction((arguments, _) =>
        {
            long[] bounds = [.. arguments.Select(a => a is long l ? l : throw new ChatTemplateException($"range() needs integers, not {JinjaValues.TypeName(a)}"))];
            var (start, stop, step) = bounds.Length switch
            {
                1 => (0L, bounds[0], 1L),
                2 => (bounds[0], bounds[1], 1L),
                3 when bounds[2] != 0 => (bounds[0], bounds[1], bounds[2]),
                _ => throw new ChatTemplateException("range() takes 1 to 3 integers, the step not 0"),
            };
            var items = new List<object?>();
            for (long i = start; step > 0 ? i < stop : i > stop; i += step)
            {
                items.Add(i);
            }

            return items;
        }));
    }

    /// <summary>Python's <c>strftime</c> for the directives chat templates use (Llama 3.x: <c>"%d %b %Y"</c>).</summary>
    private static string StrFTime(string format, DateTimeOffset now)
    {
        var result = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                result.Append(format[i]);
                continue;
            }

            char directive = format[++i];
            result.Append(directive switch
            {
                'd' => now.ToString("dd", CultureInfo.InvariantCulture),
                'm' => now.ToString("MM", CultureInfo.InvariantCulture),
                'Y' => now.ToString("yyyy", CultureInfo.InvariantCulture),
                'y' => now.ToString("yy", CultureInfo.InvariantCulture),
                'b' => now.ToString("MMM", CultureInfo.InvariantCulture),
                'B' => now.ToString("MMMM", CultureInfo.InvariantCulture),
                'a' => now.ToString("ddd", CultureInfo.InvariantCulture),
                'A' => now.ToString("dddd", CultureInfo.InvariantCulture),
                'H' => now.ToString("HH", CultureInfo.InvariantCulture),
                'I' => now.ToString("hh", CultureInfo.InvariantCulture),
                'M' => now.ToString("mm", CultureInfo.InvariantCulture),
                'S' => now.ToString("ss", CultureInfo.InvariantCulture),
                'p' => now.Hour < 12 ? "AM" : "PM",
                'j' => now.DayOfYear.ToString("000", CultureInfo.InvariantCulture),
                '%' => "%",
                _ => throw new ChatTemplateException($"strftime_now: unsupported directive '%{directive}'"),
            });
        }

        return result.ToString();
    }
}
