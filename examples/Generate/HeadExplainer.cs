using System.Globalization;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Models;
using Spectre.Console;
using static TorchSharp.torch;

/// <summary>
/// Shows the LM head at work, one step at a time: the last hidden state is projected to logits, divided by the
/// temperature, filtered to the top k, normalised by softmax, and one token is drawn, each by its own stage class.
/// </summary>
internal static class HeadExplainer
{
    public static void Run(PretrainedModel pretrained, GenerateCommandLine command)
    {
        var model = pretrained.Model;
        var tokenizer = pretrained.Tokenizer;
        using var projector = model.GetOutputEmbeddings();
        var temperature = new TemperatureScaler(command.Temperature);
        TopKFilter? topK = command.TopK > 0 ? new TopKFilter(command.TopK) : null;
        var softmax = new SoftmaxNormalizer();
        var sampler = new MultinomialSampler();
        var random = command.Seed is { } seed ? new SamplingRandom(seed) : SamplingRandom.CreateUnseeded();

        var ids = tokenizer.EncodeToIds(command.Prompt).ToList();
        using var cache = model.CreateKvCache();
        var pending = ids.ToArray();
        AnsiConsole.MarkupLine($"[bold]prompt[/] {Markup.Escape(command.Prompt)}  [grey]({ids.Count} tokens; T = {command.Temperature.ToString(CultureInfo.InvariantCulture)}, k = {(command.TopK > 0 ? command.TopK : "off")})[/]");
        var explained = new List<ExplainedStep>();
        for (int step = 1; step <= command.Steps; step++)
        {
            using var scope = NewDisposeScope();
            var hidden = model.ComputeHiddenStates(tensor(pending.Select(i => (long)i).ToArray()), cache)[-1];
            var raw = projector.Project(hidden);
            var scaled = temperature.Apply(raw);
            var filtered = topK is null ? scaled : topK.Apply(scaled);
            var probabilities = softmax.Normalize(filtered);
            int drawn;
            if (temperature.IsGreedy)
            {
                drawn = (int)probabilities.argmax().item<long>();
            }
            else
            {
                using var sample = sampler.Sample(probabilities, random);
                drawn = (int)sample.Ids.item<long>();
            }

            int count = (int)Math.Min(command.Candidates, raw.shape[0]);
            var top = raw.topk(count).indexes.data<long>().Select(i => (int)i).ToList();
            if (!top.Contains(drawn))
            {
                top.Add(drawn);
            }

            float[] rawValues = raw.data<float>().ToArray();
            float[] scaledValues = scaled.data<float>().ToArray();
            float[] filteredValues = filtered.data<float>().ToArray();
            float[] probabilityValues = probabilities.data<float>().ToArray();
            float[] rawProbabilities = raw.softmax(0).data<float>().ToArray();
            float[] scaledProbabilities = temperature.IsGreedy ? probabilityValues : scaled.softmax(0).data<float>().ToArray();
            explained.Add(new ExplainedStep(step, [.. top.Select(id => (Show(tokenizer.Decode([id]) ?? ""), (double)rawProbabilities[id], (double)scaledProbabilities[id], (double)probabilityValues[id], id == drawn))]));
            var table = new Table().Border(TableBorder.Rounded)
                .Title(Markup.Escape($"step {step}: context vector [{model.HiddenSize}] → logits [{projector.VocabularySize}]"))
                .AddColumn("token").AddColumn(new TableColumn("id").RightAligned()).AddColumn(new TableColumn("raw logit").RightAligned())
                .AddColumn(new TableColumn("÷ T").RightAligned()).AddColumn(new TableColumn("top-k").RightAligned())
                .AddColumn(new TableColumn("p").RightAligned()).AddColumn("").AddColumn("");
            float best = top.Max(i => probabilityValues[i]);
            foreach (int id in top)
            {
                string token = Show(tokenizer.Decode([id]) ?? "");
                bool removed = float.IsNegativeInfinity(filteredValues[id]);
                int bar = best > 0 ? (int)Math.Round(8 * probabilityValues[id] / best) : 0;
                string marker = id == drawn ? "[bold green]◀ drawn[/]" : "";
                table.AddRow(
                    id == drawn ? $"[bold green]{Markup.Escape(token)}[/]" : Markup.Escape(token),
                    id.ToString(CultureInfo.InvariantCulture),
                    rawValues[id].ToString("F3", CultureInfo.InvariantCulture),
                    scaledValues[id].ToString("F3", CultureInfo.InvariantCulture),
                    removed ? "[grey]removed[/]" : filteredValues[id].ToString("F3", CultureInfo.InvariantCulture),
                    probabilityValues[id].ToString("P2", CultureInfo.InvariantCulture),
                    $"[blue]{new string('█', bar)}[/]",
                    marker);
            }

            AnsiConsole.Write(table);
            int survivors = filteredValues.Count(float.IsFinite);
            AnsiConsole.MarkupLine($"  {survivors:N0} of {projector.VocabularySize:N0} tokens survive the filters; drawn [bold green]{Markup.Escape(Show(tokenizer.Decode([drawn]) ?? ""))}[/] with p = {probabilityValues[drawn]:P2}");
            ids.Add(drawn);
            pending = [drawn];
            if (cache.Length >= model.ContextLength)
            {
                break;
            }
        }

        AnsiConsole.MarkupLine($"[bold]text[/] {Markup.Escape(tokenizer.Decode(ids) ?? "")}");
        if (command.Png is { } png)
        {
            ExplainChart.Write(png, explained, command.Temperature, command.TopK);
            AnsiConsole.MarkupLine($"[grey]chart written to {Markup.Escape(png)} ({new FileInfo(png).Length:N0} bytes)[/]");
        }
    }

    private static string Show(string token) => "'" + token.Replace("\n", "\\n", StringComparison.Ordinal) + "'";
}
