// Streams text from a prompt with the shipped default model (or any GPT-2 folder), or explains how the LM head
// chose each next token.
//   dotnet run --project examples/Generate -- "ROMEO:"
//   dotnet run --project examples/Generate -- explain "ROMEO:" --steps 3
using System.Diagnostics;
using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;

var command = GenerateCommandLine.Parse(args);
if (command is null)
{
    return args.Contains("--help") || args.Contains("-h") ? 0 : 2;
}

var clock = Stopwatch.StartNew();
string folder;
try
{
    folder = command.Model ?? DefaultModel.FindFolder();
}
catch (DirectoryNotFoundException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 1;
}

using var pretrained = Gpt2Pretrained.Load(folder);
Console.Error.WriteLine($"[model {Path.GetFileName(Path.GetFullPath(folder).TrimEnd('/'))}: d={pretrained.Config.HiddenSize}, layers={pretrained.Config.LayerCount}, context={pretrained.Config.MaxPositions}; loaded in {clock.ElapsedMilliseconds} ms]");

if (command.Explain)
{
    HeadExplainer.Run(pretrained, command);
    return 0;
}

var options = new GenerationOptions
{
    MaxNewTokens = command.MaxTokens,
    Temperature = command.Temperature,
    TopK = command.TopK > 0 ? command.TopK : null,
    Seed = command.Seed,
    StopSequences = command.Stops,
};
var generator = new TextGenerator(pretrained);
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

Console.Write(command.Prompt);
GenerationChunk? last = null;
try
{
    await foreach (var chunk in generator.GenerateStreamingAsync(command.Prompt, options, cancel.Token))
    {
        Console.Write(chunk.Text);
        last = chunk;
    }
}
catch (OperationCanceledException)
{
    Console.Error.WriteLine("\n[cancelled]");
    return 130;
}

Console.WriteLine();
if (last is not null)
{
    double seconds = clock.Elapsed.TotalSeconds;
    Console.Error.WriteLine($"[{last.CompletionTokenCount} tokens, finish: {last.FinishReason}, {last.CompletionTokenCount / seconds:F1} tokens/s including load]");
}

return 0;
