// Trains a small GPT-2 on a text file with the GPT-2 tokenizer and writes a Hugging Face style folder.
//   dotnet run -c Release --project examples/Train -- --data ../shared/data/tinyshakespeare.txt --out models/tiny-shakespeare
// Ctrl+C stops at the next step and still writes the checkpoint.
using System.Globalization;
using LmHead.Extensions.Models;
using LmHead.Extensions.Tokenization;
using LmHead.Extensions.Training;
using Spectre.Console;
using static TorchSharp.torch;

var options = CommandLine.Parse(args);
if (options is null)
{
    return 2;
}

string text = File.ReadAllText(options.Data);
AnsiConsole.MarkupLine($"[grey]corpus[/] {Markup.Escape(options.Data)}: {text.Length:N0} characters");
var tokens = Gpt2Tokenizer.Default.EncodeToIds(text);
AnsiConsole.MarkupLine($"[grey]tokens[/] {tokens.Count:N0} (GPT-2 tokenizer), {tokens.Distinct().Count():N0} distinct");

set_num_threads(Environment.ProcessorCount);
var config = new Gpt2Config
{
    HiddenSize = options.Embedding,
    LayerCount = options.Layers,
    HeadCount = options.Heads,
    MaxPositions = options.Context,
};
using var model = new Gpt2Model(config);
Gpt2Trainer.InitializeWeights(model, options.Training.Seed);
long parameterCount = model.parameters().Sum(p => p.numel());
AnsiConsole.MarkupLine($"[grey]model[/] d={config.HiddenSize}, layers={config.LayerCount}, heads={config.HeadCount}, context={config.MaxPositions}: {parameterCount:N0} parameters");

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

TrainingResult? result = null;
AnsiConsole.Progress()
    .AutoClear(false)
    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
    .Start(context =>
    {
        var task = context.AddTask("training", maxValue: options.Training.Steps);
        var progress = new CallbackProgress(p =>
        {
            task.Value = p.Step;
            string validation = p.ValidationLoss is { } v ? v.ToString("F3", CultureInfo.InvariantCulture) : "-";
            task.Description = $"step {p.Step}/{p.TotalSteps} loss {p.Loss:F3} val {validation} lr {p.LearningRate:0.0e0} {p.TokensPerSecond:N0} tok/s";
        });
        result = new Gpt2Trainer(model, options.Training).Train(tokens, options.Output, progress, ScalarType.Float16, cancel.Token);
    });

AnsiConsole.MarkupLine(
    $"[green]done[/] {result!.Steps} steps in {result.Elapsed:hh\\:mm\\:ss}, training loss {result.FinalLoss:F3}, validation loss {result.ValidationLoss:F3}{(result.Cancelled ? " (stopped early)" : "")}");
AnsiConsole.MarkupLine($"[grey]saved[/] {Markup.Escape(Path.GetFullPath(options.Output))}");
return 0;

/// <summary>Reports on the training thread, so the bar is current when training ends.</summary>
internal sealed class CallbackProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}
