using System.Text.Json;
using OpenAI.Chat;

namespace LmHead.Extensions.Server.Tests;

/// <summary><c>response_format</c> through the official OpenAI .NET SDK: the reply follows the schema.</summary>
[TestClass]
public sealed class StructuredOutputTests
{
    [TestMethod]
    public async Task JsonSchemaResponseFormatIsFollowed()
    {
        var chat = (await ServerFixture.ServerAsync()).CreateClient().GetChatClient(ServerFixture.ModelId);
        var format = ChatResponseFormat.CreateJsonSchemaFormat(
            "verdict",
            BinaryData.FromString("""{"type":"object","properties":{"verdict":{"enum":["guilty","innocent"]},"years":{"type":"integer","minimum":0,"maximum":30}},"required":["verdict","years"],"additionalProperties":false}"""),
            jsonSchemaIsStrict: true);

        ChatCompletion completion = await chat.CompleteChatAsync(
            [new UserChatMessage("The verdict?")], new ChatCompletionOptions { Seed = 3, MaxOutputTokenCount = 40, ResponseFormat = format });

        Assert.AreEqual(ChatFinishReason.Stop, completion.FinishReason, completion.Content[0].Text);
        using var reply = JsonDocument.Parse(completion.Content[0].Text);
        Assert.IsTrue(reply.RootElement.GetProperty("verdict").GetString() is "guilty" or "innocent");
        Assert.IsTrue(reply.RootElement.GetProperty("years").GetInt32() is >= 0 and <= 30);
    }
}
