using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using OpenAI.Chat;

namespace LmHead.Extensions.Server.Tests;

/// <summary>Errors in OpenAI's shape (<c>{"error":{"message","type","param","code"}}</c>) with 400, 404 and the SDK's <see cref="ClientResultException"/>.</summary>
[TestClass]
public sealed class ErrorShapeTests
{
    private static async Task<(HttpStatusCode Status, JsonNode Error)> PostAsync(string path, string json)
    {
        var server = await ServerFixture.ServerAsync();
        using var http = new HttpClient { BaseAddress = server.Address };
        using var response = await http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.AreEqual("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = body["error"]!;
        Assert.IsFalse(string.IsNullOrWhiteSpace((string?)error["message"]));
        Assert.IsTrue(error.AsObject().ContainsKey("param") && error.AsObject().ContainsKey("code") && error.AsObject().ContainsKey("type"), body.ToJsonString());
        return (response.StatusCode, error);
    }

    [TestMethod]
    public async Task BadTemperatureSurfacesInTheSdkAs400NamingTheParameter()
    {
        var chat = (await ServerFixture.ServerAsync()).CreateClient().GetChatClient(ServerFixture.ModelId);

        var ex = await Assert.ThrowsExactlyAsync<ClientResultException>(() =>
            chat.CompleteChatAsync([new UserChatMessage("Hi")], new ChatCompletionOptions { Temperature = -1f }));

        Assert.AreEqual(400, ex.Status);
        var error = JsonNode.Parse(ex.GetRawResponse()!.Content.ToString())!["error"]!;
        Assert.AreEqual("temperature", (string?)error["param"]);
        Assert.AreEqual("invalid_request_error", (string?)error["type"]);
        StringAssert.Contains((string?)error["message"], "-1");
    }

    [TestMethod]
    public async Task UnknownModelSurfacesInTheSdkAs404()
    {
        var chat = (await ServerFixture.ServerAsync()).CreateClient().GetChatClient("gpt-4o");

        var ex = await Assert.ThrowsExactlyAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("Hi")]));

        Assert.AreEqual(404, ex.Status);
        var error = JsonNode.Parse(ex.GetRawResponse()!.Content.ToString())!["error"]!;
        Assert.AreEqual("model_not_found", (string?)error["code"]);
        Assert.AreEqual("model", (string?)error["param"]);
        StringAssert.Contains((string?)error["message"], ServerFixture.ModelId);
    }

    [TestMethod]
    [DataRow("""{"model":"tiny-a","messages":[{"role":"user","content":"Hi"}],"n":2}""", "n")]
    [DataRow("""{"model":"tiny-a","messages":[{"role":"user","content":"Hi"}],"tools":[{"type":"function"}]}""", "tools")]
    [DataRow("""{"model":"tiny-a","messages":[{"role":"tool","content":"Hi"}]}""", "messages[0].role")]
    [DataRow("""{"model":"tiny-a","messages":[]}""", "messages")]
    [DataRow("""{"messages":[{"role":"user","content":"Hi"}]}""", "model")]
    [DataRow("""{"model":"tiny-a","messages":[{"role":"user","content":"Hi"}],"max_completion_tokens":0}""", "max_completion_tokens")]
    [DataRow("""{"model":"tiny-a","messages":[{"role":"user","content":"Hi"}],"stop":[""]}""", "stop")]
    [DataRow("""{"model":"tiny-a","messages":[{"role":"user","content":"Hi"}],"seed":-3}""", "seed")]
    [DataRow("""{"model":"tiny-a","messages":[{"role":"user","content":"Hi"}],"top_logprobs":21}""", "top_logprobs")]
    [DataRow("""{"model":"tiny-a","messages":[{"role":"user","content":"Hi"}],"allow_special_tokens":true}""", "allow_special_tokens")]
    public async Task BadChatParameterIs400NamingIt(string json, string param)
    {
        var (status, error) = await PostAsync("/v1/chat/completions", json);

        Assert.AreEqual(HttpStatusCode.BadRequest, status, error.ToJsonString());
        Assert.AreEqual(param, (string?)error["param"], error.ToJsonString());
        Assert.AreEqual("invalid_request_error", (string?)error["type"]);
    }

    [TestMethod]
    [DataRow("""{"model":"tiny-a","prompt":["a","b"]}""", "prompt")]
    [DataRow("""{"model":"tiny-a","prompt":"Hi","logprobs":21}""", "logprobs")]
    [DataRow("""{"model":"tiny-a","prompt":"Hi","echo":true}""", "echo")]
    [DataRow("""{"model":"tiny-a","prompt":"Hi","temperature":"hot"}""", "temperature")]
    public async Task BadCompletionParameterIs400NamingIt(string json, string param)
    {
        var (status, error) = await PostAsync("/v1/completions", json);

        Assert.AreEqual(HttpStatusCode.BadRequest, status, error.ToJsonString());
        Assert.AreEqual(param, (string?)error["param"], error.ToJsonString());
    }

    [TestMethod]
    public async Task PromptLongerThanTheContextIs400NamingTheMessages()
    {
        string longText = string.Concat(Enumerable.Repeat("word ", 400));
        var (status, error) = await PostAsync("/v1/chat/completions", new JsonObject
        {
            ["model"] = ServerFixture.ModelId,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = longText }),
            ["stream"] = true,
        }.ToJsonString());

        Assert.AreEqual(HttpStatusCode.BadRequest, status);
        Assert.AreEqual("messages", (string?)error["param"]);
        StringAssert.Contains((string?)error["message"], "n_positions");
    }

    [TestMethod]
    public async Task MalformedJsonIs400()
    {
        var (status, error) = await PostAsync("/v1/chat/completions", "{\"model\": ");

        Assert.AreEqual(HttpStatusCode.BadRequest, status);
        Assert.IsNull((string?)error["param"]);
    }

    [TestMethod]
    public async Task UnknownUrlIs404InTheErrorShape()
    {
        var (status, error) = await PostAsync("/v1/embeddings", """{"model":"tiny-a","input":"Hi"}""");

        Assert.AreEqual(HttpStatusCode.NotFound, status);
        Assert.AreEqual("unknown_url", (string?)error["code"]);
    }

    [TestMethod]
    public async Task ModelsListsTheServedModel()
    {
        var server = await ServerFixture.ServerAsync();
        var models = server.CreateClient().GetOpenAIModelClient();

        var list = (await models.GetModelsAsync()).Value;
        var one = (await models.GetModelAsync(ServerFixture.ModelId)).Value;

        CollectionAssert.AreEqual(new[] { ServerFixture.ModelId }, list.Select(m => m.Id).ToArray());
        Assert.AreEqual("lmhead", one.OwnedBy);
        var ex = await Assert.ThrowsExactlyAsync<ClientResultException>(() => models.GetModelAsync("missing"));
        Assert.AreEqual(404, ex.Status);
    }
}
