using System.Net.Http.Json;
using System.Text.Json.Nodes;
using LmHead.Extensions.SemanticKernel.Tests;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LmHead.Extensions.Server.Tests;

/// <summary><c>AddLmHeadServer</c>: several models by id, duplicate ids and bad arguments rejected.</summary>
[TestClass]
public sealed class RegistrationTests
{
    [TestMethod]
    public async Task TwoModelsAreListedAndEachAnswersUnderItsId()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddLmHeadServer(TinyModels.GeneratorA, "model-a").AddLmHeadServer(TinyModels.FolderB);
        await using var app = builder.Build();
        app.MapLmHeadOpenAi();
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };

        var models = await http.GetFromJsonAsync<JsonObject>("/v1/models");
        using var fromB = await http.PostAsJsonAsync("/v1/completions", new { model = "tiny-b", prompt = "Hi", max_tokens = 3, seed = 1 });
        var expectedB = await TinyModels.GeneratorB.GenerateAsync("Hi", new() { MaxNewTokens = 3, Decoding = new() { Seed = 1 } });

        CollectionAssert.AreEqual(new[] { "model-a", "tiny-b" }, models!["data"]!.AsArray().Select(m => (string)m!["id"]!).ToArray());
        Assert.AreEqual(expectedB.Text, (string?)(await fromB.Content.ReadFromJsonAsync<JsonObject>())!["choices"]![0]!["text"]);
        await app.StopAsync();
    }

    [TestMethod]
    public void RejectsADuplicateIdAndMissingArguments()
    {
        var services = new ServiceCollection().AddLmHeadServer(TinyModels.GeneratorA, "same");

        var duplicate = Assert.Throws<ArgumentException>(() => services.AddLmHeadServer(TinyModels.FolderB, "same"));
        StringAssert.Contains(duplicate.Message, "'same'");
        Assert.Throws<ArgumentException>(() => services.AddLmHeadServer(" "));
        Assert.Throws<ArgumentException>(() => services.AddLmHeadServer(TinyModels.GeneratorA, ""));
        Assert.Throws<ArgumentNullException>(() => services.AddLmHeadServer((LmHead.Extensions.Generation.TextGenerator)null!, "x"));
    }
}
