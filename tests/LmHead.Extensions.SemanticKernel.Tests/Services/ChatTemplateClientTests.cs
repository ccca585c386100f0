using System.Text.Json.Nodes;
using LmHead.Extensions.Chat;
using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.SemanticKernel.Services;
using LmHead.Extensions.Tokenization;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using static TorchSharp.torch;

namespace LmHead.Extensions.SemanticKernel.Tests.Services;

/// <summary>
/// A model folder with a chat template (ChatML in tokenizer_config.json) and a tokenizer.json whose added tokens are
/// the ChatML markers: the chat client renders with the template, encodes its markers as single tokens, ends on the
/// folder's eos_token, drops old exchanges to fit the context, and passes tools to the template.
/// </summary>
[TestClass]
public sealed class ChatTemplateClientTests
{
    private const int ImStart = 256, ImEnd = 257, EndOfText = 258;

    private const string ChatMl =
        "{% if tools %}<|im_start|>system\n{% for t in tools %}{{ t | tojson }}\n{% endfor %}<|im_end|>\n{% endif %}"
        + "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

    private static readonly Lazy<string> Folder = new(() => CreateFolder(256));

    // Room for a tool list and the reply-shape instructions in one-byte tokens.
    private static readonly Lazy<string> WideFolder = new(() => CreateFolder(512));

    private static string CreateFolder(int maxPositions)
    {
        string folder = Path.Combine(Path.GetTempPath(), "lmhead-sk-tests", "chatml-" + Guid.NewGuid().ToString("N"));
        var config = TinyModels.Config() with { VocabularySize = 259, BosTokenId = null, EosTokenId = null, MaxPositions = maxPositions };
        using (var model = new Gpt2Model(config))
        {
            var generator = new Generator(7);
            using (no_grad())
            {
                foreach (var (_, parameter) in model.named_parameters())
                {
                    using var noise = randn(parameter.shape, generator: generator);
                    using var value = 0.5 * noise;
                    parameter.copy_(value);
                }
            }

            Gpt2Pretrained.Save(model, folder);
        }

        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), TokenizerJson());
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), new JsonObject { ["chat_template"] = ChatMl, ["eos_token"] = "<|im_end|>" }.ToJsonString());
        return folder;
    }

    // Byte-level BPE with no merges: every byte is its own token (id = byte value), so token counts are byte counts.
    private static string TokenizerJson()
    {
        var vocab = new JsonObject();
        int shifted = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
            vocab[((char)(printable ? b : 256 + shifted++)).ToString()] = b;
        }

        JsonObject Added(int id, string content) => new() { ["id"] = id, ["content"] = content, ["special"] = true };
        return new JsonObject
        {
            ["added_tokens"] = new JsonArray(Added(ImStart, "<|im_start|>"), Added(ImEnd, "<|im_end|>"), Added(EndOfText, "<|endoftext|>")),
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = true },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
            ["model"] = new JsonObject { ["type"] = "BPE", ["vocab"] = vocab, ["merges"] = new JsonArray() },
        }.ToJsonString();
    }

    private static IChatClient Client(ServiceProvider provider) => provider.GetRequiredService<IChatClient>();

    private static ServiceProvider Services() => Services(Folder.Value);

    private static ServiceProvider Services(string folder)
    {
        var services = new ServiceCollection();
        services.AddLmHeadChatClient(folder);
        return services.BuildServiceProvider();
    }

    private static int PromptTokens(string prompt) => Gpt2Pretrained.LoadTokenizer(Folder.Value).EncodeToIds(prompt).Count;

    [TestMethod]
    public async Task RendersWithTheFolderTemplateAndEncodesItsMarkersAsSingleTokens()
    {
        using var provider = Services();
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 6 };

        var response = await Client(provider).GetResponseAsync([new ChatMessage(ChatRole.User, "Hi")], options);

        const string prompt = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";
        // 3 markers as one token each + one token per byte of "user\nHi", "\n" and "assistant\n".
        Assert.AreEqual(3 + "user\nHi\nassistant\n".Length, PromptTokens(prompt));
        Assert.AreEqual(PromptTokens(prompt), response.Usage!.InputTokenCount);
        using var pretrained = Gpt2Pretrained.Load(Folder.Value);
        var direct = await new TextGenerator(pretrained) { EndOfSequenceTokenIds = new HashSet<int> { ImEnd } }
            .GenerateAsync(prompt, new GenerationOptions { MaxNewTokens = 6, AllowSpecialTokensInPrompt = true, Decoding = new() { Temperature = 0 } });
        Assert.AreEqual(direct.Text, response.Text);
    }

    [TestMethod]
    public async Task TheFoldersEosTokenEndsTheReply()
    {
        using var provider = Services();
        var options = new ChatOptions
        {
            Temperature = 0, MaxOutputTokens = 20,
            AdditionalProperties = new() { ["logit_bias"] = new Dictionary<string, object> { [ImEnd.ToString(System.Globalization.CultureInfo.InvariantCulture)] = 100 } },
        };

        var response = await Client(provider).GetResponseAsync([new ChatMessage(ChatRole.User, "Hi")], options);

        Assert.AreEqual(ChatFinishReason.Stop, response.FinishReason);
        Assert.AreEqual(string.Empty, response.Text);
        Assert.AreEqual(1, response.Usage!.OutputTokenCount);
    }

    [TestMethod]
    public async Task DropsWholeOldExchangesUntilThePromptFitsTheContext()
    {
        using var provider = Services();
        var messages = new List<ChatMessage> { new(ChatRole.System, "Be brief.") };
        for (int i = 0; i < 6; i++)
        {
            messages.Add(new(ChatRole.User, $"Question {i}: " + new string('q', 30)));
            messages.Add(new(ChatRole.Assistant, $"Answer {i}: " + new string('a', 30)));
        }

        messages.Add(new(ChatRole.User, "Last question?"));

        var response = await Client(provider).GetResponseAsync(messages, new ChatOptions { Temperature = 0, MaxOutputTokens = 2 });

        // Expected independently: the system message plus the longest tail starting at a user message whose rendering
        // fits three quarters of the 256-position context.
        var template = ChatTemplate.Parse(ChatMl);
        int expected = -1;
        for (int start = 1; start < messages.Count; start += 2)
        {
            var kept = messages.Take(1).Concat(messages.Skip(start));
            string prompt = template.Render([.. kept.Select(m => (JsonNode)new JsonObject { ["role"] = m.Role.Value, ["content"] = m.Text })]);
            if (PromptTokens(prompt) <= 192)
            {
                expected = PromptTokens(prompt);
                break;
            }
        }

        Assert.IsGreaterThan(0, expected);
        Assert.AreEqual(expected, response.Usage!.InputTokenCount);
    }

    [TestMethod]
    public async Task PassesFunctionToolsToTheTemplate()
    {
        using var provider = Services(WideFolder.Value);
        // Short, so that the whole prompt fits the tiny model's context and is not cut.
        var tool = AIFunctionFactory.Create(() => "sunny", "get_weather", "Weather");
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 1, Tools = [tool] };

        var response = await Client(provider).GetResponseAsync([new ChatMessage(ChatRole.User, "Hi")], options);

        var schema = new JsonObject
        {
            ["type"] = "function",
            ["function"] = new JsonObject { ["name"] = "get_weather", ["description"] = "Weather", ["parameters"] = JsonNode.Parse(tool.JsonSchema.GetRawText()) },
        };
        // The reply-shape instructions of ToolCallFormat come first as the system turn; the template lists the tools too.
        string instructions = ToolCallFormat.Instructions([tool], callRequired: false, listTools: false);
        string expected = ChatTemplate.Parse(ChatMl).Render(
            [new JsonObject { ["role"] = "system", ["content"] = instructions }, new JsonObject { ["role"] = "user", ["content"] = "Hi" }],
            new ChatTemplateOptions { Tools = [schema] });
        Assert.Contains("get_weather", expected);
        Assert.IsLessThan(384, PromptTokens(expected));
        Assert.AreEqual(PromptTokens(expected), response.Usage!.InputTokenCount);
    }
}
