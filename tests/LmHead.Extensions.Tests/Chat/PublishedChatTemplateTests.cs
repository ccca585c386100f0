using System.Text.Json.Nodes;
using LmHead.Extensions.Chat;

namespace LmHead.Extensions.Tests.Chat;

/// <summary>
/// Published chat templates rendered by this library's interpreter and compared with the outputs other Jinja
/// implementations publish for them. The template texts (Chat/Published/*.jinja) and the expected outputs are test data
/// copied from two public test suites:
/// <list type="bullet">
/// <item>huggingface/huggingface.js, <c>packages/jinja/test/e2e.test.js</c> (commit 029db6baefd46bedd8900dd2ba4aa1eb03a9ef3d):
/// HuggingFaceH4/zephyr-7b-beta (the template TinyLlama-1.1B-Chat-v1.0 ships), mistralai/Mistral-7B-Instruct-v0.1,
/// mistralai/Mixtral-8x7B-Instruct-v0.1, the Llama 2 template (hf-internal-testing/llama-tokenizer) and
/// CISCai/Mistral-7B-Instruct-v0.3-SOTA-GGUF (Mistral v0.3 with tools);</item>
/// <item>ggml-org/llama.cpp, <c>tests/test-chat-template.cpp</c> (commit 03f94f19a2c4c9d039fa1a84838fe3e2110cc28d): ChatML
/// (teknium/OpenHermes-2.5-Mistral-7B, the format of Qwen2.5 and SmolLM2), mistralai/Mistral-7B-Instruct-v0.2 (the old
/// template and mistralai's "v1" template with a system prompt) and Llama 3.</item>
/// </list>
/// </summary>
[TestClass]
public sealed class PublishedChatTemplateTests
{
    // huggingface.js's conversations.
    private static readonly string[] ExampleChat =
    [
        """{"role": "user", "content": "Hello, how are you?"}""",
        """{"role": "assistant", "content": "I'm doing great. How can I help you today?"}""",
        """{"role": "user", "content": "I'd like to show off how chat templating works!"}""",
    ];

    private const string PirateSystem = """{"role": "system", "content": "You are a friendly chatbot who always responds in the style of a pirate"}""";

    // llama.cpp's conversation (rendered with add_generation_prompt = true).
    private static readonly string[] LlamaCppChat =
    [
        """{"role": "system", "content": "You are a helpful assistant"}""",
        """{"role": "user", "content": "Hello"}""",
        """{"role": "assistant", "content": "Hi there"}""",
        """{"role": "user", "content": "Who are you"}""",
        """{"role": "assistant", "content": "   I am an assistant   "}""",
        """{"role": "user", "content": "Another question"}""",
    ];

    private static ChatTemplate Published(string name) =>
        ChatTemplate.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Chat", "Published", name)));

    private static string Render(string template, string[] messages, string? bos = null, string? eos = null, bool generationPrompt = true, JsonArray? tools = null, Dictionary<string, JsonNode?>? variables = null) =>
        Published(template).Render(
            ChatTemplateFamilyTests.Messages(messages),
            new ChatTemplateOptions { BosToken = bos, EosToken = eos, AddGenerationPrompt = generationPrompt, Tools = tools, Variables = variables });

    [TestMethod]
    public void TheVendoredTinyLlamaAndMistralTemplatesAreThePublishedTexts()
    {
        string Vendored(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Chat", "Templates", name));
        string PublishedText(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Chat", "Published", name));

        // tinyllama.jinja ends with one newline after {% endfor %}, which trim_blocks removes from the output.
        Assert.AreEqual(PublishedText("zephyr.jinja"), Vendored("tinyllama.jinja").TrimEnd('\n'));
        Assert.AreEqual(PublishedText("mistral-v0.2-v1.jinja"), Vendored("mistral-instruct.jinja"));
    }

    [TestMethod]
    public void ZephyrAsTinyLlamaShipsIt()
    {
        Assert.AreEqual(
            "<|system|>\nYou are a friendly chatbot who always responds in the style of a pirate</s>\n<|user|>\nHello, how are you?</s>\n<|assistant|>\nI'm doing great. How can I help you today?</s>\n<|user|>\nI'd like to show off how chat templating works!</s>\n",
            Render("zephyr.jinja", [PirateSystem, .. ExampleChat], eos: "</s>", generationPrompt: false));
        Assert.AreEqual(
            "<|system|>\nYou are a friendly chatbot who always responds in the style of a pirate</s>\n<|user|>\nHow many helicopters can a human eat in one sitting?</s>\n<|assistant|>\n",
            Render("zephyr.jinja", [PirateSystem, """{"role": "user", "content": "How many helicopters can a human eat in one sitting?"}"""], eos: "</s>"));
    }

    [TestMethod]
    public void MistralInstructV01AndMixtral()
    {
        Assert.AreEqual(
            "<s>[INST] Hello, how are you? [/INST]I'm doing great. How can I help you today?</s> [INST] I'd like to show off how chat templating works! [/INST]",
            Render("mistral-v0.1.jinja", ExampleChat, "<s>", "</s>"));
        Assert.AreEqual(
            "<s>[INST] Hello, how are you? [/INST]I'm doing great. How can I help you today?</s>[INST] I'd like to show off how chat templating works! [/INST]",
            Render("mixtral.jinja", ExampleChat, "<s>", "</s>"));
    }

    [TestMethod]
    public void MistralInstructV02WithASystemPrompt()
    {
        Assert.AreEqual(
            " [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s> [INST] Who are you [/INST]    I am an assistant   </s> [INST] Another question [/INST]",
            Render("mistral-v0.2-v1.jinja", LlamaCppChat, "", "</s>"));
    }

    [TestMethod]
    public void MistralInstructV02OldTemplateWithTheSystemPromptMergedAsLlamaCppDoes()
    {
        // The old template raises on a system message; llama.cpp merges it into the first user message with "\n".
        string[] merged = ["""{"role": "user", "content": "You are a helpful assistant\nHello"}""", .. LlamaCppChat[2..]];

        Assert.AreEqual(
            "[INST] You are a helpful assistant\nHello [/INST]Hi there</s>[INST] Who are you [/INST]   I am an assistant   </s>[INST] Another question [/INST]",
            Render("mistral-v0.2-old.jinja", merged, "", "</s>"));
        var error = Assert.ThrowsExactly<ChatTemplateException>(() => Render("mistral-v0.2-old.jinja", LlamaCppChat, "", "</s>"));
        Assert.Contains("Conversation roles must alternate", error.Message);
    }

    [TestMethod]
    public void Llama3()
    {
        Assert.AreEqual(
            "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            Render("llama3.jinja", LlamaCppChat, "", ""));
    }

    [TestMethod]
    public void ChatMl()
    {
        Assert.AreEqual(
            "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n   I am an assistant   <|im_end|>\n<|im_start|>user\nAnother question<|im_end|>\n<|im_start|>assistant\n",
            Render("chatml.jinja", LlamaCppChat));
    }

    [TestMethod]
    public void Llama2WithItsDefaultSystemPromptSwitch()
    {
        Assert.AreEqual(
            "<s>[INST] <<SYS>>\nYou are a friendly chatbot who always responds in the style of a pirate\n<</SYS>>\n\nHello, how are you? [/INST] I'm doing great. How can I help you today? </s><s>[INST] I'd like to show off how chat templating works! [/INST]",
            Render("llama2.jinja", [PirateSystem, .. ExampleChat], "<s>", "</s>", variables: new() { ["USE_DEFAULT_PROMPT"] = true }));
    }

    [TestMethod]
    public void MistralInstructV03WithTools()
    {
        JsonArray tools =
        [
            JsonNode.Parse("""
                {"type": "function", "function": {"name": "get_current_weather", "description": "Get the current weather in a given location",
                 "parameters": {"type": "object", "properties": {"location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                 "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["location"]}}}
                """),
        ];

        Assert.AreEqual(
            """<s>[AVAILABLE_TOOLS] [{"name": "get_current_weather", "description": "Get the current weather in a given location", "parameters": {"type": "object", "properties": {"location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["location"]}}][/AVAILABLE_TOOLS][INST] What's the weather like in Oslo and Stockholm?[/INST]""",
            Render("mistral-v0.3-tools.jinja", ["""{"role": "user", "content": "What's the weather like in Oslo and Stockholm?"}"""], "<s>", "</s>", tools: tools));
    }
}
