using System.ClientModel;
using System.ClientModel.Primitives;
using LmHead.Extensions.Generation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenAI;

namespace LmHead.Extensions.Server.Tests;

/// <summary>An OpenAI-compatible server on Kestrel at 127.0.0.1 on a free port, serving one generator; counts its requests.</summary>
public sealed class LoopbackServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _requests;

    private LoopbackServer(WebApplication app)
    {
        _app = app;
    }

    /// <summary>The base address, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public Uri Address { get; private set; } = null!;

    /// <summary>How many HTTP requests reached this server.</summary>
    public int RequestCount => Volatile.Read(ref _requests);

    /// <summary>The host's services.</summary>
    public IServiceProvider Services => _app.Services;

    public static async Task<LoopbackServer> StartAsync(
        TextGenerator generator, string modelId, ILoggerProvider? logs = null, Action<IServiceCollection>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs).SetMinimumLevel(LogLevel.Debug);
        }

        builder.Services.AddLmHeadServer(generator, modelId);
        configure?.Invoke(builder.Services);
        var app = builder.Build();
        var server = new LoopbackServer(app);
        app.Use(async (HttpContext context, RequestDelegate next) =>
        {
            Interlocked.Increment(ref server._requests);
            await next(context);
        });
        app.MapLmHeadOpenAi();
        await app.StartAsync();
        server.Address = new Uri(app.Urls.First());
        return server;
    }

    /// <summary>An official OpenAI client pointed at <paramref name="address"/>/v1, with retries off so errors surface at once.</summary>
    public static OpenAIClient CreateClient(Uri address) => new(new ApiKeyCredential("not-checked"), ClientOptions(address));

    public static OpenAIClientOptions ClientOptions(Uri address) => new()
    {
        Endpoint = new Uri(address, "/v1"),
        RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        NetworkTimeout = TimeSpan.FromMinutes(5),
    };

    public OpenAIClient CreateClient() => CreateClient(Address);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
