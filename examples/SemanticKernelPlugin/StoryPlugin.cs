using LmHead.Extensions.Generation;
using System.ComponentModel;
using LmHead.Extensions.SemanticKernel.Settings;
using Microsoft.SemanticKernel;

namespace LmHead.Extensions.Examples;

/// <summary>A plugin whose prompt function runs on the local model, and a native function that calls it.</summary>
internal sealed class StoryPlugin
{
    private readonly KernelFunction _continue = KernelFunctionFactory.CreateFromPrompt(
        "{{$opening}}",
        new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 32, StopSequences = ["\n\n"], Decoding = new() { Temperature = 0.8f, TopK = 40, Seed = 3 } }),
        functionName: "Continue",
        description: "Continues a story opening on the local model.");

    [KernelFunction("continue")]
    [Description("Continues a story opening on the local model.")]
    public async Task<string> ContinueAsync(Kernel kernel, [Description("The opening lines.")] string opening)
    {
        var result = await _continue.InvokeAsync(kernel, new KernelArguments { ["opening"] = opening });
        return result.GetValue<string>() ?? "";
    }

    [KernelFunction("titled_scene")]
    [Description("Writes a scene under a title: calls the prompt function, then formats the text.")]
    public async Task<string> TitledSceneAsync(Kernel kernel, [Description("The speaker who opens the scene.")] string speaker)
    {
        string body = await ContinueAsync(kernel, speaker + ":");
        return $"== A scene for {speaker} ==\n{speaker}:{body}";
    }
}
