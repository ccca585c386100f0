using System.Text.Json.Nodes;
using LmHead.Extensions.Chat;
using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.Tests.Generation;
using LmHead.Extensions.Tests.Tokenization;
using LmHead.Extensions.Tokenization;

namespace LmHead.Extensions.Tests.Chat;

[TestClass]
public sealed class ChatModelMetadataTests
{
    private const string ChatMl = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

    private static string Folder(params (string Name, string Text)[] files)
    {
        string folder = Directory.CreateTempSubdirectory().FullName;
        foreach (var (name, text) in files)
        {
            File.WriteAllText(Path.Combine(folder, name), text);
        }

        return folder;
    }

    private static string TokenizerJsonWithChatTokens() => TokenizerJsonFile.Write(
        TokenizerJsonFile.ByteVocabulary(), [], TokenizerJsonFile.ByteLevel(), [(256, "<|endoftext|>", true), (257, "<|im_start|>", true), (258, "<|im_end|>", true)]);

    [TestMethod]
    public void ReadsTheTemplateTokensAndEveryEndIdOfAFolder()
    {
        string folder = Folder(
            ("tokenizer_config.json", new JsonObject { ["chat_template"] = ChatMl, ["bos_token"] = null, ["eos_token"] = new JsonObject { ["content"] = "<|im_end|>" } }.ToJsonString()),
            ("generation_config.json", """{"eos_token_id": [256, 300]}"""),
            ("config.json", """{"eos_token_id": 301, "model_type": "qwen2"}"""),
            ("tokenizer.json", TokenizerJsonWithChatTokens()));
        var tokenizer = TokenizerJson.Load(Path.Combine(folder, "tokenizer.json"));

        var metadata = ChatModelMetadata.Load(folder, tokenizer);

        Assert.IsTrue(metadata.HasChatTemplate);
        Assert.IsNull(metadata.BosToken);
        Assert.AreEqual("<|im_end|>", metadata.EosToken);
        CollectionAssert.AreEquivalent(new[] { 256, 258, 300, 301 }, metadata.EndOfSequenceTokenIds.ToArray());
        Assert.AreEqual(
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
            metadata.SelectTemplate(withTools: false)!.Render([new JsonObject { ["role"] = "user", ["content"] = "Hi" }]));
    }

    [TestMethod]
    public void PicksTheToolUseTemplateOnlyWhenToolsAreGiven()
    {
        string folder = Folder(("tokenizer_config.json", """{"chat_template": [{"name": "default", "template": "D"}, {"name": "tool_use", "template": "T"}]}"""));

        var metadata = ChatModelMetadata.Load(folder);

        Assert.AreEqual("D", metadata.SelectTemplate(withTools: false)!.Render([]));
        Assert.AreEqual("T", metadata.SelectTemplate(withTools: true)!.Render([]));
    }

    [TestMethod]
    public void AFolderWithoutTheFilesHasNoTemplateAndNoExtraEndIds()
    {
        var metadata = ChatModelMetadata.Load(Folder());

        Assert.IsFalse(metadata.HasChatTemplate);
        Assert.IsNull(metadata.SelectTemplate(withTools: true));
        Assert.IsEmpty(metadata.EndOfSequenceTokenIds);
    }

    [TestMethod]
    public void ReadsChatTemplateJinjaWhenTheConfigHasNoTemplate()
    {
        var metadata = ChatModelMetadata.Load(Folder(("chat_template.jinja", "{{ bos_token }}x"), ("tokenizer_config.json", """{"bos_token": "<s>"}""")));

        Assert.AreEqual("<s>x", metadata.SelectTemplate(false)!.Render([], new ChatTemplateOptions { BosToken = metadata.BosToken }));
    }

    [TestMethod]
    [DataRow("generation_config.json", """{"eos_token_id": "2"}""", "eos_token_id")]
    [DataRow("config.json", """{"eos_token_id": [1, -2]}""", "eos_token_id")]
    [DataRow("tokenizer_config.json", """{"eos_token": 5}""", "eos_token")]
    [DataRow("tokenizer_config.json", """{"chat_template": 5}""", "chat_template")]
    [DataRow("tokenizer_config.json", """{"chat_template": "{% include 'x' %}"}""", "chat_template")]
    [DataRow("tokenizer_config.json", """{"chat_template": [{"name": "default"}]}""", "chat_template[0]")]
    public void NamesTheFileAndKeyOfAMalformedValue(string file, string json, string key)
    {
        string folder = Folder((file, json));

        var error = Assert.ThrowsExactly<ModelFormatException>(() => ChatModelMetadata.Load(folder));

        Assert.AreEqual(Path.Combine(folder, file), error.FilePath);
        Assert.AreEqual(key, error.Key);
    }

    [TestMethod]
    public async Task GenerationEndsOnAnyEndOfSequenceIdOfTheGenerator()
    {
        var tokenizer = Gpt2Tokenizer.Default;
        int[] script = [.. tokenizer.EncodeToIds(" one two three four")];
        using var model = ScriptedGpt2.Create(script, promptLength: 1, endOfText: null);
        var plain = new TextGenerator(model, tokenizer);
        var ending = new TextGenerator(model, tokenizer) { EndOfSequenceTokenIds = new HashSet<int> { script[2] } };
        var options = new GenerationOptions { MaxNewTokens = script.Length, Decoding = new() { Temperature = 0 } };

        var all = await plain.GenerateAsync("x", options);
        var cut = await ending.GenerateAsync("x", options);

        Assert.AreEqual(" one two three four", all.Text);
        Assert.AreEqual(FinishReason.Length, all.FinishReason);
        Assert.AreEqual(tokenizer.Decode(script[..2]), cut.Text);
        Assert.AreEqual(FinishReason.EndOfText, cut.FinishReason);
        Assert.AreEqual(3, cut.CompletionTokenCount);
    }

    [TestMethod]
    public void RejectsANegativeEndOfSequenceId()
    {
        using var model = ScriptedGpt2.Create([1], promptLength: 1);

        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new TextGenerator(model, Gpt2Tokenizer.Default) { EndOfSequenceTokenIds = new HashSet<int> { 3, -1 } });

        Assert.Contains("-1", error.Message);
        Assert.AreEqual("EndOfSequenceTokenIds", error.ParamName);
    }
}
