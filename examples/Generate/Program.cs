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

PretrainedModel pretrained;
try
{
    pretrained = PretrainedModel.Load(folder);
}
catch (Exception ex) when (ex is ModelFormatException or DirectoryNotFoundException or FileNotFoundException)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    return 1;
}

using var owner = pretrained;
Console.Error.WriteLine($"[model {Path.GetFileName(Path.GetFullPath(folder).TrimEnd('/'))}: {pretrained.ModelType}, d={pretrained.Model.HiddenSize}, layers={pretrained.Model.LayerCount}, context={pretrained.Model.ContextLength}; loaded in {clock.ElapsedMilliseconds} ms]");

if (command.Explain)
{
    try
    {
        HeadExplainer.Run(pretrained, command);
        return 0;
    }
    catch (ArgumentException ex)
    {
        Console.Error.WriteLine($"error: {ex.Message}");
        return 2;
    }
}


GenerationOptions options;
try
{
    options = new GenerationOptions
    {
        MaxNewTokens = command.MaxTokens,
        StopSequences = command.Stops,
        ContextOverflow = command.StrictContext ? ContextOverflow.Error : ContextOverflow.SlidingWindow,
        Decoding = new() { Temperature = command.Temperature, TopK = command.TopK, Seed = command.Seed },
    };
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine($"error: {ex.Message}\n{GenerateCommandLine.Usage}");
    return 2;
}

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
catch (ArgumentException ex)
{
    // A prompt longer than the model's context, or tokens the model does not know.
    Console.Error.WriteLine($"\nerror: {ex.Message}");
    return 1;
}

Console.WriteLine();
if (last is not null)
{
    double seconds = clock.Elapsed.TotalSeconds;
    Console.Error.WriteLine($"[{last.CompletionTokenCount} tokens, finish: {last.FinishReason}, {last.CompletionTokenCount / seconds:F1} tokens/s including load]");
}

return 0;
