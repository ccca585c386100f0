using System.Globalization;
using LmHead.Extensions.Training;

/// <summary>The Train app's options, parsed from <c>--name value</c> pairs.</summary>
internal sealed record CommandLine(string Data, string Output, int Embedding, int Layers, int Heads, int Context, Gpt2TrainingOptions Training)
{
    private const string Usage = """
        usage: Train --data <text file> [--out <folder>] [--embd 128] [--layers 4] [--heads 4] [--context 128]
                     [--steps 2000] [--batch 16] [--seq 128] [--lr 0.003] [--warmup 100] [--eval-every 200] [--seed 1337]
        """;

    public static CommandLine? Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                Console.Error.WriteLine($"unexpected argument '{args[i]}'\n{Usage}");
                return null;
            }

            values[args[i][2..]] = args[++i];
        }

        if (!values.TryGetValue("data", out var data) || !File.Exists(data))
        {
            Console.Error.WriteLine($"--data must name an existing text file{(data is null ? "" : $" ('{data}' does not exist)")}\n{Usage}");
            return null;
        }

        int Int(string name, int fallback) => values.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
        double Double(string name, double fallback) => values.TryGetValue(name, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;

        var defaults = new Gpt2TrainingOptions();
        var training = defaults with
        {
            Steps = Int("steps", defaults.Steps),
            BatchSize = Int("batch", defaults.BatchSize),
            SequenceLength = Int("seq", defaults.SequenceLength),
            LearningRate = Double("lr", defaults.LearningRate),
            WarmupSteps = Int("warmup", defaults.WarmupSteps),
            EvaluateEvery = Int("eval-every", defaults.EvaluateEvery),
            Seed = Int("seed", defaults.Seed),
        };
        return new CommandLine(data, values.GetValueOrDefault("out", "models/tiny-shakespeare"),
            Int("embd", 128), Int("layers", 4), Int("heads", 4), Int("context", 128), training);
    }
}
