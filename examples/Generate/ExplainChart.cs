using ScottPlot;

/// <summary>One step of <c>explain</c> as the chart shows it: the top candidates' probabilities after each stage.</summary>
internal sealed record ExplainedStep(int Step, IReadOnlyList<(string Token, double Raw, double Scaled, double Final, bool Drawn)> Candidates);

/// <summary>
/// Writes <c>explain --png FILE</c>: for every step a group of the top candidates, each with three bars: its probability
/// under the raw logits (softmax, T = 1), after the temperature (softmax of logits ÷ T), and after top-k (the
/// distribution the token is drawn from); the drawn token's label is marked.
/// </summary>
internal static class ExplainChart
{
    public static void Write(string path, IReadOnlyList<ExplainedStep> steps, float temperature, int topK)
    {
        var plot = new Plot();
        Color[] colors = [Colors.LightGray, Colors.SteelBlue, Colors.DarkOrange];
        string[] stages = ["softmax(raw logits)", $"after ÷ T (T = {temperature:0.##})", topK > 0 ? $"after top-k (k = {topK}): drawn from" : "final (no top-k): drawn from"];
        var bars = new List<Bar>();
        var ticks = new List<Tick>();
        double x = 0;
        foreach (var step in steps)
        {
            foreach (var candidate in step.Candidates)
            {
                double[] values = [candidate.Raw, candidate.Scaled, candidate.Final];
                for (int s = 0; s < 3; s++)
                {
                    bars.Add(new Bar { Position = x + (s - 1) * 0.27, Value = values[s], FillColor = colors[s], Size = 0.25, LineWidth = 0 });
                }

                ticks.Add(new Tick(x, (candidate.Drawn ? "▶ " : "") + candidate.Token));
                x += 1;
            }

            x += 1.5;   // a gap between steps
        }

        plot.Add.Bars(bars);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual([.. ticks]);
        plot.Axes.Bottom.TickLabelStyle.Rotation = 60;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        plot.Axes.Bottom.MinimumSize = 110;
        plot.Axes.Margins(bottom: 0);
        plot.Axes.SetLimitsY(0, 1.05);
        plot.YLabel("probability");
        plot.Title($"The LM head, step by step ({steps.Count} steps; ▶ = drawn token)");
        for (int s = 0; s < 3; s++)
        {
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = stages[s], FillColor = colors[s] });
        }

        plot.Legend.IsVisible = true;
        plot.Legend.Alignment = Alignment.UpperRight;
        plot.SavePng(path, Math.Max(800, 60 * (int)x), 600);
    }
}
