using LmHead.Extensions.Generation;
// A Semantic Kernel plugin whose prompt function runs on a local GPT-2, called from the kernel, from a native
// function of the plugin, and from another prompt's template.
// Usage: dotnet run --project examples/SemanticKernelPlugin [model-folder]
using LmHead.Extensions.Examples;
using LmHead.Extensions.SemanticKernel.Settings;
using Microsoft.SemanticKernel;

string modelFolder = ExampleModel.Resolve(args);
IKernelBuilder builder = Kernel.CreateBuilder().AddLmHeadTextGeneration(modelFolder);
builder.Plugins.AddFromType<StoryPlugin>("story");
Kernel kernel = builder.Build();

// From the kernel: the plugin's prompt function through its native wrapper.
FunctionResult scene = await kernel.InvokeAsync("story", "titled_scene", new KernelArguments { ["speaker"] = "HAMLET" });
Console.WriteLine(scene.GetValue<string>());

// From another function's template: {{story.continue ...}} runs first, and its text becomes part of the outer prompt,
// which runs on the model as well.
var outerSettings = new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 24, Decoding = new() { Seed = 5, Temperature = 0.8f } });
FunctionResult chained = await kernel.InvokePromptAsync(
    "{{story.continue opening='MACBETH:'}}\nLADY MACBETH:",
    new KernelArguments(outerSettings));
Console.WriteLine("== Chained ==");
Console.WriteLine("LADY MACBETH:" + chained.GetValue<string>());
