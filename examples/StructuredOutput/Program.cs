// Structured output on a local model: a typed result with Microsoft.Extensions.AI's GetResponseAsync<T> (the reply is
// constrained token by token to the type's JSON schema), and a Semantic Kernel plugin called by the model (the reply is
// constrained to a call of one of the kernel's functions with valid arguments).
// The shipped model is a small Shakespeare GPT-2: its text is not meant to be sensible, but its shape always is.
// Usage: dotnet run --project examples/StructuredOutput [model-folder]
using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using LmHead.Extensions.Examples;
using LmHead.Extensions.SemanticKernel.Services;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;

string modelFolder = ExampleModel.Resolve(args);

// 1. A typed result: M.E.AI derives the JSON schema of Scene and sends it as ChatOptions.ResponseFormat.
var services = new ServiceCollection();
services.AddLmHeadChatClient(modelFolder);
using var provider = services.BuildServiceProvider();
var client = provider.GetRequiredService<IChatClient>();
var options = new ChatOptions { Seed = 7, Temperature = 0.8f, MaxOutputTokens = 300 };
ChatResponse<Scene> typed = await client.GetResponseAsync<Scene>("Describe a scene of the play as JSON.", options);
if (typed.TryGetResult(out Scene? scene))
{
    Console.WriteLine($"== Typed result ({typed.FinishReason}) ==");
    Console.WriteLine($"Speaker: {scene.Speaker}; act {scene.Act}; tragic: {scene.Tragic}; line: {scene.Line}");
}
else
{
    // A reply cut off by the token limit, or a number too large for an int, does not deserialize.
    Console.WriteLine($"== Typed result did not deserialize ({typed.FinishReason}) ==");
}

Console.WriteLine(typed.Text);

// 2. A Semantic Kernel plugin called by the local model: the kernel's chat client has Semantic Kernel's function
//    invocation, so the model's call runs the function and its result goes back to the model.
IKernelBuilder builder = Kernel.CreateBuilder().AddLmHeadChatClient(modelFolder);
builder.Plugins.AddFromType<StagePlugin>("stage");
Kernel kernel = builder.Build();
var chat = kernel.GetRequiredService<IChatClient>().AsChatCompletionService();
var settings = new PromptExecutionSettings
{
    FunctionChoiceBehavior = FunctionChoiceBehavior.Required(),
    ExtensionData = new Dictionary<string, object> { ["seed"] = 3, ["max_tokens"] = 120 },
};
var history = new ChatHistory("Who enters the stage?");
await chat.GetChatMessageContentAsync(history, settings, kernel);
Console.WriteLine("== Semantic Kernel function call ==");
foreach (var message in history)
{
    foreach (var item in message.Items)
    {
        switch (item)
        {
            case Microsoft.SemanticKernel.FunctionCallContent call:
                Console.WriteLine($"model called {(call.PluginName is null ? "" : call.PluginName + "-")}{call.FunctionName}({string.Join(", ", call.Arguments ?? [])})");
                break;
            case Microsoft.SemanticKernel.FunctionResultContent result:
                Console.WriteLine($"function returned: {result.Result}");
                break;
        }
    }
}

/// <summary>The typed result the model fills in (the bounds become JSON Schema keywords the grammar enforces).</summary>
internal sealed record Scene(Character Speaker, [property: Range(1, 5)] int Act, bool Tragic, [property: MaxLength(60)] string Line);

/// <summary>Who speaks.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<Character>))]
internal enum Character
{
    Romeo,
    Juliet,
    Hamlet,
    Ophelia,
}

/// <summary>A plugin the model can call.</summary>
internal sealed class StagePlugin
{
    [KernelFunction("enter")]
    [Description("Brings a character on stage.")]
    public static string Enter([Description("Who enters")] Character who) => $"{who} enters.";
}
