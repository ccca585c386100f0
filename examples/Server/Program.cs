// An OpenAI-compatible server on the shipped default model (or --model <folder>):
//   dotnet run --project examples/Server -- --urls http://127.0.0.1:5000
//   curl http://127.0.0.1:5000/v1/chat/completions -H 'Content-Type: application/json' \
//        -d '{"model":"tiny-shakespeare","messages":[{"role":"user","content":"Hello"}],"max_tokens":20}'
// --backends <url>,<url>,... runs a YARP reverse proxy instead, balancing /v1 across running servers (round robin).
// --smoke starts on a free loopback port, sends itself one chat request, prints the answer and exits (CI).
using System.Net.Http.Json;
using LmHead.Extensions.Models;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.LoadBalancing;

bool smoke = args.Contains("--smoke");
var builder = WebApplication.CreateBuilder([.. args.Where(a => a != "--smoke")]);
builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning).AddFilter("Yarp", LogLevel.Warning);
if (smoke)
{
    builder.WebHost.UseUrls("http://127.0.0.1:0");
}

if (builder.Configuration["backends"] is { } backends)
{
    builder.Services.AddReverseProxy().LoadFromMemory(
        [new RouteConfig { RouteId = "openai", ClusterId = "lmhead", Match = new RouteMatch { Path = "/v1/{**rest}" } }],
        [new ClusterConfig
        {
            ClusterId = "lmhead",
            LoadBalancingPolicy = LoadBalancingPolicies.RoundRobin,
            Destinations = backends.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select((address, i) => (Name: $"backend-{i}", Address: address))
                .ToDictionary(d => d.Name, d => new DestinationConfig { Address = d.Address }),
        }]);
    var proxy = builder.Build();
    proxy.MapReverseProxy();
    proxy.Run();
    return 0;
}

string modelFolder = builder.Configuration["model"] ?? DefaultModel.FindFolder();
builder.Services.AddLmHeadServer(modelFolder, builder.Configuration["model-id"]);

var app = builder.Build();
app.MapLmHeadOpenAi();
if (!smoke)
{
    app.Run();
    return 0;
}

await app.StartAsync();
string address = app.Urls.First();
using var http = new HttpClient { BaseAddress = new Uri(address) };
var models = await http.GetFromJsonAsync<System.Text.Json.Nodes.JsonObject>("/v1/models");
string model = (string)models!["data"]![0]!["id"]!;
using var response = await http.PostAsJsonAsync("/v1/chat/completions", new
{
    model,
    messages = new[] { new { role = "user", content = "Good morrow, how fares the king?" } },
    max_tokens = 24,
    seed = 42,
});
string body = await response.Content.ReadAsStringAsync();
Console.WriteLine($"POST {address}/v1/chat/completions -> {(int)response.StatusCode}");
Console.WriteLine(body);
await app.StopAsync();
return response.IsSuccessStatusCode ? 0 : 1;
