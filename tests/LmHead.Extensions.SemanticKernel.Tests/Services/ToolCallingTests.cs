using System.Text.Json;
using LmHead.Extensions.SemanticKernel.Services;
using Microsoft.Extensions.AI;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using Microsoft.Extensions.DependencyInjection;
using FunctionCallContent = Microsoft.Extensions.AI.FunctionCallContent;
using FunctionResultContent = Microsoft.Extensions.AI.FunctionResultContent;

namespace LmHead.Extensions.SemanticKernel.Tests.Services;

/// <summary>
/// Tool calls on the tiny random model: the grammar makes every reply a call with valid arguments or an answer, so
/// M.E.AI's function invocation and Semantic Kernel's auto function calling complete a round trip whatever the weights.
/// </summary>
[TestClass]
public sealed class ToolCallingTests
{
    private static readonly ChatMessage[] s_question = [new(ChatRole.User, "What is the weather in Oslo?")];

    private static LmHeadChatClient CreateClient() => new(TinyModels.GeneratorA, "tiny-a");

    // The random model writes strings of random tokens; a bias toward GPT-2's '"' (id 1) closes them within the token
    // limit. The grammar, not the bias, decides the shape: a '"' is only ever drawn where the grammar allows one.
    private static AdditionalPropertiesDictionary QuoteBias() => new() { ["logit_bias"] = new Dictionary<string, object> { ["1"] = 40 } };

    [TestMethod]
    public async Task ARequiredCallIsAFunctionCallWhoseArgumentsMatchTheToolsSchema()
    {
        using var client = CreateClient();
        var tool = AIFunctionFactory.Create((string city, int days) => $"{city}:{days}", "get_weather");

        for (int seed = 0; seed < 10; seed++)
        {
            var response = await client.GetResponseAsync(s_question, new ChatOptions
            {
                Tools = [tool], ToolMode = ChatToolMode.RequireAny, Seed = seed, MaxOutputTokens = 200, AdditionalProperties = QuoteBias(),
            });

            if (response.FinishReason == ChatFinishReason.Length)
            {
                continue;
            }

            Assert.AreEqual(ChatFinishReason.ToolCalls, response.FinishReason, $"seed {seed}");
            var call = response.Messages.Single().Contents.OfType<FunctionCallContent>().Single();
            Assert.AreEqual("get_weather", call.Name);
            Assert.AreEqual(JsonValueKind.String, ((JsonElement)call.Arguments!["city"]!).ValueKind, $"seed {seed}");
            Assert.AreEqual(JsonValueKind.Number, ((JsonElement)call.Arguments["days"]!).ValueKind, $"seed {seed}");
            StringAssert.Matches(((JsonElement)call.Arguments["days"]!).GetRawText(), new System.Text.RegularExpressions.Regex("^-?(0|[1-9][0-9]*)$"), $"seed {seed}: days is an integer");
            Assert.IsFalse(string.IsNullOrEmpty(call.CallId));
        }
    }

    [TestMethod]
    public async Task WithAutomaticToolModeEveryReplyIsACallOrAnAnswer()
    {
        using var client = CreateClient();
        AITool[] tools = [AIFunctionFactory.Create((string city) => city, "get_weather"), AIFunctionFactory.Create(() => "noon", "get_time")];
        int calls = 0, answers = 0;
        for (int seed = 0; seed < 10; seed++)
        {
            var response = await client.GetResponseAsync(s_question, new ChatOptions { Tools = tools, Seed = seed, MaxOutputTokens = 200, AdditionalProperties = QuoteBias() });
            var contents = response.Messages.Single().Contents;
            if (response.FinishReason == ChatFinishReason.ToolCalls)
            {
                var call = contents.OfType<FunctionCallContent>().Single();
                CollectionAssert.Contains(new[] { "get_weather", "get_time" }, call.Name);
                calls++;
            }
            else if (response.FinishReason == ChatFinishReason.Stop)
            {
                Assert.IsFalse(contents.OfType<FunctionCallContent>().Any(), $"seed {seed}");
                answers++;
            }
        }

        Assert.IsGreaterThanOrEqualTo(8, calls + answers, "Most replies complete within 200 tokens.");
    }

    [TestMethod]
    public async Task FunctionInvocationCompletesARoundTripOnTheLocalModel()
    {
        int invoked = 0;
        var tool = AIFunctionFactory.Create((string city) => { invoked++; return $"Sunny in {city}"; }, "get_weather");
        using var client = new ChatClientBuilder(CreateClient()).UseFunctionInvocation(configure: c => c.MaximumIterationsPerRequest = 2).Build();

        var response = await client.GetResponseAsync(s_question, new ChatOptions { Tools = [tool], ToolMode = ChatToolMode.RequireAny, Seed = 3, MaxOutputTokens = 200, AdditionalProperties = QuoteBias() });

        Assert.IsGreaterThanOrEqualTo(1, invoked, "The model's call ran the function.");
        var call = response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>().First();
        var result = response.Messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>().First();
        Assert.AreEqual(call.CallId, result.CallId);
        StringAssert.StartsWith(result.Result?.ToString(), "Sunny in ");
    }

    [TestMethod]
    public async Task SemanticKernelAutoFunctionCallingInvokesAKernelFunction()
    {
        int invoked = 0;
        var kernel = Kernel.CreateBuilder().AddLmHeadChatClient(TinyModels.GeneratorA, "tiny-a").Build();
        kernel.Plugins.AddFromFunctions("weather", [KernelFunctionFactory.CreateFromMethod((string city) => { invoked++; return $"Sunny in {city}"; }, "get_weather")]);
        var service = kernel.GetRequiredService<IChatClient>().AsChatCompletionService();
        var settings = new PromptExecutionSettings
        {
            FunctionChoiceBehavior = FunctionChoiceBehavior.Required(options: new FunctionChoiceBehaviorOptions { AllowConcurrentInvocation = false }),
            ExtensionData = new Dictionary<string, object> { ["seed"] = 5, ["max_tokens"] = 200, ["logit_bias"] = new Dictionary<string, object> { ["1"] = 40 } },
        };

        var history = new ChatHistory("What is the weather in Oslo?");
        var reply = await service.GetChatMessageContentAsync(history, settings, kernel);

        Assert.IsGreaterThanOrEqualTo(1, invoked, "Semantic Kernel invoked the plugin function the model called.");
        Assert.IsNotNull(reply);
        var calls = history.SelectMany(m => m.Items).OfType<Microsoft.SemanticKernel.FunctionCallContent>().ToArray();
        var results = history.SelectMany(m => m.Items).OfType<Microsoft.SemanticKernel.FunctionResultContent>().ToArray();
        Assert.IsNotEmpty(calls, "The call is in the chat history.");
        StringAssert.StartsWith(results.First().Result?.ToString(), "Sunny in ");
    }

    [TestMethod]
    public async Task ToolsAndAResponseFormatTogetherAreRefused()
    {
        using var client = CreateClient();
        var error = await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync(s_question, new ChatOptions
        {
            Tools = [AIFunctionFactory.Create(() => 1, "one")], ResponseFormat = ChatResponseFormat.Json,
        }));
        StringAssert.Contains(error.Message, "ResponseFormat");
    }

    [TestMethod]
    public void HistoryWithCallsAndResultsRendersInTheReplyShape()
    {
        ChatMessage[] history =
        [
            new(ChatRole.User, "Weather?"),
            new(ChatRole.Assistant, [new FunctionCallContent("c1", "get_weather", new Dictionary<string, object?> { ["city"] = "Oslo" })]),
            new(ChatRole.Tool, [new FunctionResultContent("c1", "sunny")]),
        ];

        string prompt = ChatPromptFormat.Render(history);

        Assert.AreEqual(
            "User: Weather?\nAssistant: {\"tool\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}\nTool: {\"tool\":\"get_weather\",\"result\":\"sunny\"}\nAssistant:",
            prompt);
    }
}
