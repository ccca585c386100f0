using LmHead.Extensions.Generation;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace LmHead.Extensions.Server;

/// <summary>Loads every served model when the host starts, so the first request does not pay for the load (and a bad folder fails the start).</summary>
internal sealed class ServedModelWarmUp(IServiceProvider services, IEnumerable<ServedModel> models) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var model in models)
        {
            cancellationToken.ThrowIfCancellationRequested();
            _ = services.GetRequiredKeyedService<IChatClient>(model.ServiceKey).GetService<TextGenerator>();
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
