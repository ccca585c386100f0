using System.Text;
using LmHead.Extensions.SemanticKernel.Tests;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenAI.Chat;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.LoadBalancing;

namespace LmHead.Extensions.Server.Tests;

/// <summary>Two server hosts on loopback behind a YARP reverse proxy (routes and cluster from code), called with the OpenAI SDK.</summary>
[TestClass]
public sealed class YarpLoadBalancingTests
{
    private const string Question = "Whither goest thou?";

    private static async Task<WebApplication> StartProxyAsync(params Uri[] backends)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddReverseProxy().LoadFromMemory(
            [new RouteConfig { RouteId = "openai", ClusterId = "lmhead", Match = new RouteMatch { Path = "/v1/{**rest}" } }],
            [new ClusterConfig
            {
                ClusterId = "lmhead",
                LoadBalancingPolicy = LoadBalancingPolicies.RoundRobin,
                Destinations = backends.Select((uri, i) => (Key: $"backend-{i}", Value: new DestinationConfig { Address = uri.ToString() }))
                    .ToDictionary(d => d.Key, d => d.Value),
            }]);
        var app = builder.Build();
        app.MapReverseProxy();
        await app.StartAsync();
        return app;
    }

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public async Task BothBackendsServeAndStreamingPassesThroughTheProxy()
    {
        await using var first = await LoopbackServer.StartAsync(TinyModels.GeneratorA, ServerFixture.ModelId);
        await using var second = await LoopbackServer.StartAsync(TinyModels.GeneratorA, ServerFixture.ModelId);
        await using var proxy = await StartProxyAsync(first.Address, second.Address);
        var chat = LoopbackServer.CreateClient(new Uri(proxy.Urls.First())).GetChatClient(ServerFixture.ModelId);
        var options = new ChatCompletionOptions { Seed = 31, MaxOutputTokenCount = 12, Temperature = 1.2f };

        var whole = new List<string>();
        for (int i = 0; i < 4; i++)
        {
            whole.Add((await chat.CompleteChatAsync([new UserChatMessage(Question)], options)).Value.Content[0].Text);
        }

        var streamed = new StringBuilder();
        ChatTokenUsage? usage = null;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage(Question)], options))
        {
            streamed.Append(string.Concat(update.ContentUpdate.Select(p => p.Text)));
            usage ??= update.Usage;
        }

        Assert.IsGreaterThan(0, first.RequestCount, "The first backend served nothing.");
        Assert.IsGreaterThan(0, second.RequestCount, "The second backend served nothing.");
        Assert.AreEqual(5, first.RequestCount + second.RequestCount);
        Assert.AreEqual(1, whole.Distinct().Count(), "Both backends run the same model: a seeded request gives one reply.");
        Assert.AreEqual(whole[0], streamed.ToString());
        Assert.AreEqual(12, usage?.OutputTokenCount);
    }
}
