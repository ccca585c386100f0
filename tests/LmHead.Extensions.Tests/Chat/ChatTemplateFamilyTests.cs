using System.Text.Json.Nodes;
using LmHead.Extensions.Chat;

namespace LmHead.Extensions.Tests.Chat;

/// <summary>
/// The chat templates the supported families publish in tokenizer_config.json (Chat/Templates/*.jinja), rendered and
/// compared with outputs worked out by hand from the template text and Hugging Face's Jinja settings.
/// </summary>
[TestClass]
public sealed class ChatTemplateFamilyTests
{
    private const string WeatherTool =
        """{"type": "function", "function": {"name": "get_weather", "description": "Get the weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}""";

    private const string WeatherCall = """{"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]}""";

    internal static ChatTemplate Load(string name) =>
        ChatTemplate.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Chat", "Templates", name)));

    internal static JsonArray Messages(params string[] json) => [.. json.Select(j => JsonNode.Parse(j))];

    private static JsonArray Tools() => [JsonNode.Parse(WeatherTool)];

    [TestMethod]
    public void Qwen25AddsItsDefaultSystemPromptAndTheGenerationPrompt()
    {
        string actual = Load("qwen2.5.jinja").Render(Messages(
            """{"role": "user", "content": "Hi"}""", """{"role": "assistant", "content": "Hello!"}""", """{"role": "user", "content": "How are you?"}"""));

        Assert.AreEqual(
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
            + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nHow are you?<|im_end|>\n"
            + "<|im_start|>assistant\n",
            actual);
    }

    [TestMethod]
    public void Qwen25WritesToolsToolCallsAndGroupsToolResponses()
    {
        string actual = Load("qwen2.5.jinja").Render(
            Messages(
                """{"role": "system", "content": "You are a bot."}""", """{"role": "user", "content": "Weather in Paris?"}""", WeatherCall,
                """{"role": "tool", "content": "22°C"}""", """{"role": "tool", "content": "sunny"}"""),
            new ChatTemplateOptions { Tools = Tools() });

        Assert.AreEqual(
            "<|im_start|>system\nYou are a bot.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
            + "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" + WeatherTool + "\n</tools>\n\n"
            + "For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n"
            + "<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n"
            + "<|im_start|>user\nWeather in Paris?<|im_end|>\n"
            + "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n"
            + "<|im_start|>user\n<tool_response>\n22°C\n</tool_response>\n<tool_response>\nsunny\n</tool_response><|im_end|>\n"
            + "<|im_start|>assistant\n",
            actual);
    }

    [TestMethod]
    public void SmolLm2UsesChatMlWithItsOwnDefaultSystemPrompt()
    {
        var template = Load("smollm2.jinja");

        string withDefault = template.Render(Messages("""{"role": "user", "content": "Hi"}"""));
        string withSystem = template.Render(
            Messages("""{"role": "system", "content": "Be brief."}""", """{"role": "user", "content": "Hi"}"""),
            new ChatTemplateOptions { AddGenerationPrompt = false });

        Assert.AreEqual(
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
            withDefault);
        Assert.AreEqual("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n", withSystem);
    }

    [TestMethod]
    public void TinyLlamaZephyrFormatDependsOnTrimBlocks()
    {
        string actual = Load("tinyllama.jinja").Render(
            Messages("""{"role": "system", "content": "You are a friendly chatbot."}""", """{"role": "user", "content": "Hi"}"""),
            new ChatTemplateOptions { EosToken = "</s>" });

        Assert.AreEqual("<|system|>\nYou are a friendly chatbot.</s>\n<|user|>\nHi</s>\n<|assistant|>\n", actual);
    }

    [TestMethod]
    public void MistralInstructFoldsTheSystemMessageIntoTheFirstInstruction()
    {
        string actual = Load("mistral-instruct.jinja").Render(
            Messages(
                """{"role": "system", "content": "Be brief."}""", """{"role": "user", "content": "Hi"}""",
                """{"role": "assistant", "content": "Hello"}""", """{"role": "user", "content": "Bye"}"""),
            new ChatTemplateOptions { BosToken = "<s>", EosToken = "</s>" });

        Assert.AreEqual("<s> [INST] Be brief.\n\nHi [/INST] Hello</s> [INST] Bye [/INST]", actual);
    }

    [TestMethod]
    public void MistralInstructRaisesWhenRolesDoNotAlternate()
    {
        var error = Assert.ThrowsExactly<ChatTemplateException>(() => Load("mistral-instruct.jinja").Render(
            Messages("""{"role": "user", "content": "a"}""", """{"role": "user", "content": "b"}""")));

        Assert.Contains("conversation roles must alternate user/assistant", error.Message);
    }

    [TestMethod]
    public void Llama32WritesTodaysDateFromStrftimeNow()
    {
        string actual = Load("llama3.2.jinja").Render(
            Messages("""{"role": "system", "content": "  You are helpful.\n"}""", """{"role": "user", "content": "Hi"}"""),
            new ChatTemplateOptions { BosToken = "<|begin_of_text|>", Clock = () => new DateTimeOffset(2026, 12, 2, 9, 0, 0, TimeSpan.Zero) });

        Assert.AreEqual(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 02 Dec 2026\n\n"
            + "You are helpful.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            actual);
    }

    [TestMethod]
    public void Llama31PutsToolsInTheFirstUserMessageIndentedByFour()
    {
        string actual = Load("llama3.1.jinja").Render(
            Messages("""{"role": "user", "content": "Weather in Paris?"}""", WeatherCall, """{"role": "tool", "content": "22"}"""),
            new ChatTemplateOptions { BosToken = "<|begin_of_text|>", Tools = Tools(), AddGenerationPrompt = false });

        const string indented = "{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"get_weather\",\n"
            + "        \"description\": \"Get the weather\",\n        \"parameters\": {\n            \"type\": \"object\",\n"
            + "            \"properties\": {\n                \"city\": {\n                    \"type\": \"string\"\n                }\n"
            + "            },\n            \"required\": [\n                \"city\"\n            ]\n        }\n    }\n}";
        Assert.AreEqual(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nCutting Knowledge Date: December 2023\n"
            + "Today Date: 26 Jul 2024\n\n<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nGiven the following functions, please respond with a JSON for a function call "
            + "with its proper arguments that best answers the given prompt.\n\n"
            + "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n\n"
            + indented + "\n\nWeather in Paris?<|eot_id|>"
            + "<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}<|eot_id|>"
            // A string is iterable in Jinja, so the published template JSON-quotes a tool's text result.
            + "<|start_header_id|>ipython<|end_header_id|>\n\n\"22\"<|eot_id|>",
            actual);
    }

    [TestMethod]
    public void Llama31BuiltInToolsUsePythonTagCallsAndEndOfMessage()
    {
        string actual = Load("llama3.1.jinja").Render(
            Messages(
                """{"role": "user", "content": "Search x"}""",
                """{"role": "assistant", "tool_calls": [{"function": {"name": "brave_search", "arguments": {"query": "x", "count": "2"}}}]}"""),
            new ChatTemplateOptions
            {
                AddGenerationPrompt = false,
                Variables = new Dictionary<string, JsonNode?> { ["builtin_tools"] = new JsonArray("brave_search", "code_interpreter", "wolfram_alpha") },
            });

        Assert.AreEqual(
            "<|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nTools: brave_search, wolfram_alpha\n\n"
            + "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nSearch x<|eot_id|>"
            + "<|start_header_id|>assistant<|end_header_id|>\n\n<|python_tag|>brave_search.call(query=\"x\", count=\"2\")<|eom_id|>",
            actual);
    }
}
