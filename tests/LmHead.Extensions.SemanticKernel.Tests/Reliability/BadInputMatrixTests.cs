using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.SemanticKernel.Services;
using LmHead.Extensions.SemanticKernel.Settings;
using Microsoft.Extensions.AI;
using Microsoft.SemanticKernel;

namespace LmHead.Extensions.SemanticKernel.Tests.Reliability;

/// <summary>
/// The Semantic Kernel rows of the bad-input matrix in docs/reliability.md: settings, the text-generation service and
/// the chat client, each with null, empty, out-of-range, over-long, unsupported and disposed inputs, end in the
/// documented exception type with a message containing the documented text. The table is written to the test output.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class BadInputMatrixTests
{
    public TestContext TestContext { get; set; } = null!;

    private sealed record Row(string EntryPoint, string Input, Type? Expected, string Fragment, Func<Task> Act);

    private static Row R(string entry, string input, Type? expected, string fragment, Action act) =>
        new(entry, input, expected, fragment, () => { act(); return Task.CompletedTask; });

    private static Row RA(string entry, string input, Type? expected, string fragment, Func<Task> act) => new(entry, input, expected, fragment, act);

    private static PromptExecutionSettings Extension(string key, object? value) => new() { ExtensionData = new Dictionary<string, object> { [key] = value! } };

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public async Task EverySemanticKernelEntryPointRejectsBadInputWithTheDocumentedException()
    {
        var service = new LmHeadTextGenerationService(TinyModels.GeneratorA, "tiny-a");
        using var client = new LmHeadChatClient(TinyModels.GeneratorA, "tiny-a");
        string longPrompt = string.Concat(Enumerable.Repeat("hello ", 300));
        var disposedPretrained = Gpt2Pretrained.Load(TinyModels.FolderA);
        var disposedGenerator = new TextGenerator(disposedPretrained);
        disposedPretrained.Dispose();
        ChatMessage[] hello = [new(ChatRole.User, "Hello")];
        var frozen = new LmHeadPromptExecutionSettings();
        frozen.Freeze();

        Row[] rows =
        [
            R("LmHeadPromptExecutionSettings.Temperature", "NaN, -1, +∞", typeof(ArgumentOutOfRangeException), "temperature", () => _ = new LmHeadPromptExecutionSettings(new GenerationOptions { Decoding = new() { Temperature = float.NaN } })),
            R("LmHeadPromptExecutionSettings.TopK", "-1", typeof(ArgumentOutOfRangeException), "top_k", () => _ = new LmHeadPromptExecutionSettings(new GenerationOptions { Decoding = new() { TopK = -1 } })),
            R("LmHeadPromptExecutionSettings.MaxTokens", "0", typeof(ArgumentOutOfRangeException), "max_tokens", () => _ = new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 0 })),
            R("LmHeadPromptExecutionSettings.FromExecutionSettings", "seed -1", typeof(ArgumentException), "seed", () => _ = LmHeadPromptExecutionSettings.FromExecutionSettings(new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["seed"] = -1 } })),
            R("LmHeadPromptExecutionSettings.TopLogProbabilities", "21", typeof(ArgumentOutOfRangeException), "top_logprobs", () => _ = new LmHeadPromptExecutionSettings(new GenerationOptions { TopLogProbabilities = 21 })),
            R("LmHeadPromptExecutionSettings.StopSequences", "an empty string", typeof(ArgumentException), "non-empty", () => _ = new LmHeadPromptExecutionSettings(new GenerationOptions { StopSequences = [""] })),
            R("LmHeadPromptExecutionSettings (frozen)", "any setter", typeof(InvalidOperationException), "frozen", () => frozen.Options = new GenerationOptions()),
            R("LmHeadPromptExecutionSettings.FromExecutionSettings", "null", null, "defaults", () => LmHeadPromptExecutionSettings.FromExecutionSettings(null)),
            R("LmHeadPromptExecutionSettings.FromExecutionSettings", "max_tokens \"abc\"", typeof(ArgumentException), "max_tokens", () => LmHeadPromptExecutionSettings.FromExecutionSettings(Extension("max_tokens", "abc"))),
            R("LmHeadPromptExecutionSettings.FromExecutionSettings", "max_tokens 0", typeof(ArgumentOutOfRangeException), "max_tokens", () => LmHeadPromptExecutionSettings.FromExecutionSettings(Extension("max_tokens", 0))),
            R("LmHeadPromptExecutionSettings.FromExecutionSettings", "top_k 1e20", typeof(ArgumentException), "top_k", () => LmHeadPromptExecutionSettings.FromExecutionSettings(Extension("top_k", 1e20))),
            R("LmHeadPromptExecutionSettings.FromExecutionSettings", "temperature \"NaN\"", typeof(ArgumentOutOfRangeException), "temperature", () => LmHeadPromptExecutionSettings.FromExecutionSettings(Extension("temperature", "NaN"))),
            R("LmHeadPromptExecutionSettings.FromExecutionSettings", "unknown setting", typeof(ArgumentException), "frobnicate", () => LmHeadPromptExecutionSettings.FromExecutionSettings(Extension("frobnicate", 1))),
            R("LmHeadTextGenerationService(generator, modelId)", "null generator", typeof(ArgumentNullException), "generator", () => _ = new LmHeadTextGenerationService((TextGenerator)null!, "m")),
            R("LmHeadTextGenerationService(generator, modelId)", "empty model id", typeof(ArgumentException), "modelId", () => _ = new LmHeadTextGenerationService(TinyModels.GeneratorA, " ")),
            RA("LmHeadTextGenerationService.GetTextContentsAsync", "null prompt", typeof(ArgumentNullException), "prompt", () => service.GetTextContentsAsync(null!)),
            RA("LmHeadTextGenerationService.GetTextContentsAsync", "empty prompt", null, "starts from BOS",
                () => service.GetTextContentsAsync("", new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 2, Decoding = new() { Seed = 1 } }))),
            RA("LmHeadTextGenerationService.GetTextContentsAsync", "prompt longer than n_positions", typeof(ArgumentException), "n_positions = 256", () => service.GetTextContentsAsync(longPrompt)),
            RA("LmHeadTextGenerationService.GetTextContentsAsync", "max_tokens 0 in extension data", typeof(ArgumentOutOfRangeException), "max_tokens",
                () => service.GetTextContentsAsync("a", Extension("max_tokens", 0))),
            RA("LmHeadTextGenerationService.GetTextContentsAsync", "canceled token", typeof(OperationCanceledException), "",
                () => service.GetTextContentsAsync("a", null, null, new CancellationToken(canceled: true))),
            RA("LmHeadTextGenerationService.GetTextContentsAsync", "model disposed", typeof(ObjectDisposedException), "disposed",
                () => new LmHeadTextGenerationService(disposedGenerator, "gone").GetTextContentsAsync("a")),
            RA("LmHeadTextGenerationService.GetStreamingTextContentsAsync", "null prompt", typeof(ArgumentNullException), "prompt", async () =>
            {
                await foreach (var piece in service.GetStreamingTextContentsAsync(null!))
                {
                }
            }),
            R("LmHeadChatClient(generator, modelId)", "null generator", typeof(ArgumentNullException), "generator", () => _ = new LmHeadChatClient((TextGenerator)null!, "m")),
            RA("LmHeadChatClient.GetResponseAsync", "null messages", typeof(ArgumentNullException), "messages", () => client.GetResponseAsync((IEnumerable<ChatMessage>)null!)),
            RA("LmHeadChatClient.GetResponseAsync", "no messages", null, "replies to an empty conversation",
                () => client.GetResponseAsync([], new ChatOptions { MaxOutputTokens = 2, Seed = 1 })),
            RA("LmHeadChatClient.GetResponseAsync", "MaxOutputTokens 0", typeof(ArgumentOutOfRangeException), "max_tokens",
                () => client.GetResponseAsync(hello, new ChatOptions { MaxOutputTokens = 0 })),
            RA("LmHeadChatClient.GetResponseAsync", "Temperature NaN", typeof(ArgumentOutOfRangeException), "temperature",
                () => client.GetResponseAsync(hello, new ChatOptions { Temperature = float.NaN })),
            RA("LmHeadChatClient.GetResponseAsync", "Seed -1", typeof(ArgumentOutOfRangeException), "seed", () => client.GetResponseAsync(hello, new ChatOptions { Seed = -1 })),
            RA("LmHeadChatClient.GetResponseAsync", "an unknown additional property", typeof(NotSupportedException), "frobnicate",
                () => client.GetResponseAsync(hello, new ChatOptions { AdditionalProperties = new() { ["frobnicate"] = 1 } })),
            RA("LmHeadChatClient.GetResponseAsync", "a null message", typeof(ArgumentException), "messages[1] is null",
                () => client.GetResponseAsync([new ChatMessage(ChatRole.User, "Hello"), null!])),
            RA("LmHeadChatClient.GetStreamingResponseAsync", "a null message", typeof(ArgumentException), "messages[0] is null", async () =>
            {
                await foreach (var update in client.GetStreamingResponseAsync([null!]))
                {
                }
            }),
            RA("LmHeadChatClient.GetResponseAsync", "a null content item", typeof(ArgumentException), "messages[0].Contents[1] is null",
                () => client.GetResponseAsync([new ChatMessage(ChatRole.User, [new Microsoft.Extensions.AI.TextContent("Hello"), null!])])),
            RA("LmHeadChatClient.GetResponseAsync", "a message with null text", null, "renders as an empty turn",
                () => client.GetResponseAsync([new ChatMessage(ChatRole.User, (string?)null)], new ChatOptions { MaxOutputTokens = 2, Seed = 1 })),
            RA("LmHeadChatClient.GetResponseAsync", "a null stop sequence", typeof(ArgumentException), "stop_sequences",
                () => client.GetResponseAsync(hello, new ChatOptions { StopSequences = [null!] })),
            RA("LmHeadChatClient.GetResponseAsync", "a null additional property value", null, "leaves the setting at its default",
                () => client.GetResponseAsync(hello, new ChatOptions { MaxOutputTokens = 2, Seed = 1, AdditionalProperties = new() { ["min_p"] = null } })),
            RA("LmHeadChatClient.GetResponseAsync", "image content", typeof(NotSupportedException), "text only",
                () => client.GetResponseAsync([new ChatMessage(ChatRole.User, [new DataContent(new byte[] { 1 }, "image/png")])])),
            RA("LmHeadChatClient.GetResponseAsync", "conversation longer than n_positions, context_overflow \"error\"", typeof(ArgumentException), "n_positions = 256",
                () => client.GetResponseAsync([new ChatMessage(ChatRole.User, longPrompt)], new ChatOptions { AdditionalProperties = new() { ["context_overflow"] = "error" } })),
            RA("LmHeadChatClient.GetResponseAsync", "conversation longer than n_positions (default: sliding window)", null, "keeps the prompt's last tokens",
                () => client.GetResponseAsync([new ChatMessage(ChatRole.User, longPrompt)], new ChatOptions { MaxOutputTokens = 2, Seed = 1 })),
            RA("LmHeadChatClient.GetResponseAsync", "canceled token", typeof(OperationCanceledException), "",
                () => client.GetResponseAsync(hello, null, new CancellationToken(canceled: true))),
            RA("LmHeadChatClient.GetResponseAsync", "model disposed", typeof(ObjectDisposedException), "disposed",
                () => new LmHeadChatClient(disposedGenerator, "gone").GetResponseAsync(hello)),
        ];

        var failures = new List<string>();
        var table = new System.Text.StringBuilder("| Entry point | Input | Outcome | Message (excerpt) |\n|---|---|---|---|\n");
        foreach (var entry in rows)
        {
            Exception? caught = null;
            try
            {
                await entry.Act().WaitAsync(TimeSpan.FromMinutes(1));
            }
            catch (Exception ex)
            {
                caught = ex;
            }

            string message = caught is null ? "" : caught.Message.ReplaceLineEndings(" ");
            string outcome = caught?.GetType().Name ?? "succeeds";
            table.Append(System.Globalization.CultureInfo.InvariantCulture,
                $"| `{entry.EntryPoint}` | {entry.Input} | {outcome} | {(message.Length > 150 ? message[..150] + "…" : message).Replace("|", "\\|", StringComparison.Ordinal)} |\n");
            bool typeOk = entry.Expected is null ? caught is null : caught is not null && caught.GetType() == entry.Expected
                || (entry.Expected == typeof(OperationCanceledException) && caught is OperationCanceledException);
            bool messageOk = caught is null || message.Contains(entry.Fragment, StringComparison.Ordinal);
            if (!typeOk || !messageOk)
            {
                failures.Add($"{entry.EntryPoint} with {entry.Input}: expected {entry.Expected?.Name ?? "success"} containing '{entry.Fragment}', got {outcome}: {message}");
            }
        }

        TestContext.WriteLine(table.ToString());
        Assert.IsEmpty(failures, string.Join("\n", failures));
    }
}
