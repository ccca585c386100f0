using System.Globalization;
using ScottPlot;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// <c>--chart-decode REPORT.csv OUT.png</c>: reads the CSV report BenchmarkDotNet writes for
/// <see cref="VersusLlamaCppDecodeBenchmarks"/> and plots decode tokens/s (1 / median step time) against the position,
/// for both engines and every dtype of the run (issue 19's chart; docs/images/decode-vs-position.png).
/// </summary>
internal static class DecodeChart
{
    public static void Write(string reportCsv, string pngPath)
    {
        string[] lines = File.ReadAllLines(reportCsv);
        string[] header = ConcurrencyChart.Split(lines[0]);
        int method = Array.IndexOf(header, "Method"), position = Array.IndexOf(header, "Position"), dtype = Array.IndexOf(header, "DType"), median = Array.IndexOf(header, "Median");
        if (method < 0 || position < 0 || dtype < 0 || median < 0)
        {
            throw new InvalidDataException($"{reportCsv} lacks a Method, Position, DType or Median column (run VersusLlamaCppDecodeBenchmarks with the Median column).");
        }

        var points = lines.Skip(1).Select(ConcurrencyChart.Split).Where(row => row.Length > median)
            .Select(row => (Method: row[method], Position: int.Parse(row[position], CultureInfo.InvariantCulture), DType: row[dtype], Seconds: ConcurrencyChart.Seconds(row[median])))
            .ToArray();
        var plot = new Plot();
        var colors = new Dictionary<string, Color> { ["Float32"] = Colors.SteelBlue, ["Float16"] = Colors.DarkOrange, ["BFloat16"] = Colors.SeaGreen };
        foreach (var group in points.GroupBy(p => (p.Method, p.DType)).OrderBy(g => g.Key.DType).ThenBy(g => g.Key.Method))
        {
            var series = group.OrderBy(p => p.Position).ToArray();
            double[] xs = [.. series.Select(p => (double)p.Position)];
            double[] ys = [.. series.Select(p => 1 / p.Seconds)];
            var line = plot.Add.Scatter(xs, ys, colors.GetValueOrDefault(group.Key.DType, Colors.Gray));
            bool ours = group.Key.Method.StartsWith("LmHead", StringComparison.Ordinal);
            line.LegendText = $"{(ours ? "LmHead.Extensions" : "llama.cpp")} {group.Key.DType}";
            line.LineWidth = 2;
            line.MarkerSize = 8;
            line.LinePattern = ours ? LinePattern.Solid : LinePattern.Dashed;
            line.MarkerShape = ours ? MarkerShape.FilledCircle : MarkerShape.OpenSquare;
        }

        plot.XLabel("position (tokens in the cache before the step)");
        plot.YLabel("decode tokens/s (1 / median step)");
        plot.Title("GPT-2-small shape, same weights, 2 cores: decode speed vs position");
        plot.Axes.SetLimitsY(0, points.Max(p => 1 / p.Seconds) * 1.2);
        plot.ShowLegend(Edge.Right);
        plot.SavePng(pngPath, 1100, 550);
    }
}
