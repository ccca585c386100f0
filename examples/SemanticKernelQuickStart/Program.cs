using LmHead.Extensions.Generation;
// Semantic Kernel quick start on a local GPT-2: a prompt with {{$input}}, streamed to the console, with settings
// given in code and in a prompt configuration file (Prompts/continue.json).
// Usage: dotnet run --project examples/SemanticKernelQuickStart [model-folder]
using LmHead.Extensions.Examples;
using LmHead.Extensions.SemanticKernel.Services;
using LmHead.Extensions.SemanticKernel.Settings;
using Microsoft.SemanticKernel;

string modelFolder = ExampleModel.Resolve(args);
Kernel kernel = Kernel.CreateBuilder()
    .AddLmHeadTextGeneration(modelFolder, modelId: "local-gpt2")
    .Build();

// 1. Settings from code.
var settings = new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 40, StopSequences = ["\n\n"], Decoding = new() { Temperature = 0.8f, TopK = 40, Seed = 42 } });
KernelFunction fromCode = kernel.CreateFunctionFromPrompt("{{$input}}", settings, functionName: "Continue");
Console.WriteLine("--- settings from code, streamed ---");
Console.Write("ROMEO:");
StreamingKernelContent? last = null;
await foreach (var piece in kernel.InvokeStreamingAsync(fromCode, new KernelArguments { ["input"] = "ROMEO:" }))
{
    Console.Write(piece);
    last = piece;
}

Console.WriteLine();
if (last?.Metadata is { } metadata)
{
    Console.WriteLine($"[finish: {metadata[LmHeadMetadataKeys.FinishReason]}, prompt tokens: {metadata[LmHeadMetadataKeys.PromptTokenCount]}, completion tokens: {metadata[LmHeadMetadataKeys.CompletionTokenCount]}]");
}

// 2. Settings from a prompt configuration file, as a prompt library would ship them.
string json = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Prompts", "continue.json"));
KernelFunction fromConfig = kernel.CreateFunctionFromPrompt(PromptTemplateConfig.FromJson(json));
Console.WriteLine("--- settings from Prompts/continue.json, streamed ---");
Console.Write("JULIET:");
await foreach (var piece in kernel.InvokeStreamingAsync(fromConfig, new KernelArguments { ["input"] = "JULIET:" }))
{
    Console.Write(piece);
}

Console.WriteLine();

// 3. The same function, not streamed: the result carries the usage.
FunctionResult result = await kernel.InvokeAsync(fromConfig, new KernelArguments { ["input"] = "JULIET:" });
Console.WriteLine($"--- not streamed ({result.Metadata?[LmHeadMetadataKeys.CompletionTokenCount]} tokens) ---");
Console.WriteLine("JULIET:" + result.GetValue<string>());
