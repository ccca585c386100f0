using System.Globalization;
using ScottPlot;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// <c>--chart-concurrent REPORT.csv OUT.png</c>: reads the CSV report BenchmarkDotNet writes for
/// <see cref="ConcurrentGenerationBenchmarks"/> and plots aggregate tokens/s (medians) against the number of streams,
/// continuous batching beside the same requests serialised, with the ideal line (one stream's speed × streams).
/// </summary>
internal static class ConcurrencyChart
{
    public static void Write(string reportCsv, string pngPath)
    {
        string[] lines = File.ReadAllLines(reportCsv);
        string[] header = Split(lines[0]);
        int method = Array.IndexOf(header, "Method"), streams = Array.IndexOf(header, "Streams"), median = Array.IndexOf(header, "Median");
        if (method < 0 || streams < 0 || median < 0)
        {
            throw new InvalidDataException($"{reportCsv} lacks a Method, Streams or Median column (run ConcurrentGenerationBenchmarks with the Median column).");
        }

        var points = lines.Skip(1).Select(Split).Where(row => row.Length > median)
            .Select(row => (Method: row[method], Streams: int.Parse(row[streams], CultureInfo.InvariantCulture), Seconds: Seconds(row[median])))
            .ToArray();
        var plot = new Plot();
        foreach (var (name, color) in new[] { ("Concurrent", Colors.SteelBlue), ("Serialised", Colors.DarkOrange) })
        {
            var series = points.Where(p => p.Method == name).OrderBy(p => p.Streams).ToArray();
            double[] xs = [.. series.Select(p => (double)p.Streams)];
            double[] ys = [.. series.Select(p => p.Streams * ConcurrentGenerationBenchmarks.TokensPerStream / p.Seconds)];
            var line = plot.Add.Scatter(xs, ys, color);
            line.LegendText = name == "Concurrent" ? "continuous batching (one step for all streams)" : "serialised (one request after another)";
            line.LineWidth = 2;
            line.MarkerSize = 8;
        }

        var one = points.FirstOrDefault(p => p is { Method: "Concurrent", Streams: 1 });
        if (one.Seconds > 0)
        {
            double single = ConcurrentGenerationBenchmarks.TokensPerStream / one.Seconds;
            int most = points.Max(p => p.Streams);
            var ideal = plot.Add.Line(1, single, most, single * most);
            ideal.LineStyle.Pattern = LinePattern.Dashed;
            ideal.LineColor = Colors.Gray;
            ideal.LegendText = "one stream × streams";
        }

        plot.XLabel("concurrent streams");
        plot.YLabel("aggregate tokens/s (medians)");
        plot.Title("GPT-2-small shape, fp32, 2 cores: tokens/s vs concurrent streams");
        plot.Axes.SetLimitsY(0, points.Max(p => p.Streams * ConcurrentGenerationBenchmarks.TokensPerStream / p.Seconds) * 1.15);
        plot.Legend.IsVisible = true;
        plot.Legend.Alignment = Alignment.UpperLeft;
        plot.SavePng(pngPath, 900, 550);
    }

    // One CSV line; a quoted cell may hold the separator ("1,206.0 ms").
    internal static string[] Split(string line)
    {
        var cells = new List<string>();
        var cell = new System.Text.StringBuilder();
        bool quoted = false;
        foreach (char c in line)
        {
            if (c == '"')
            {
                quoted = !quoted;
            }
            else if (c == ',' && !quoted)
            {
                cells.Add(cell.ToString());
                cell.Clear();
            }
            else
            {
                cell.Append(c);
            }
        }

        cells.Add(cell.ToString());
        return [.. cells];
    }

    // BenchmarkDotNet's CSV writes times with their unit ("1.234 s", "490.0 ms", "12.3 μs") and a group separator.
    internal static double Seconds(string cell)
    {
        string[] parts = cell.Replace("\u00a0", " ", StringComparison.Ordinal).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        double value = double.Parse(parts[0].Replace("'", "", StringComparison.Ordinal), NumberStyles.Float | NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
        return parts.Length < 2 ? value : parts[1] switch
        {
            "s" => value,
            "ms" => value / 1e3,
            "us" or "μs" => value / 1e6,
            "ns" => value / 1e9,
            var unit => throw new InvalidDataException($"Unknown time unit '{unit}' in '{cell}'."),
        };
    }
}
