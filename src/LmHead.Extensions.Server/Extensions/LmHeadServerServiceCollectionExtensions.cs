using LmHead.Extensions.Generation;
using LmHead.Extensions.Server;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers models to serve through the OpenAI-compatible endpoints of <c>MapLmHeadOpenAi</c>.</summary>
/// <remarks>
/// Each call adds one model under its id (the request's <c>model</c>); call it once per model. A model folder is
/// loaded when the host starts (logged with its load time, dtype and device), through the same chat client
/// <c>AddLmHeadChatClient</c> registers, keyed by the model id.
/// </remarks>
public static class LmHeadServerServiceCollectionExtensions
{
    /// <summary>Serves the GPT-2 model in <paramref name="modelFolder"/>.</summary>
    /// <param name="services">The services.</param>
    /// <param name="modelFolder">The folder with <c>config.json</c>, <c>model.safetensors</c> and optionally the tokenizer files.</param>
    /// <param name="modelId">The model id clients ask for; the folder's name when <see langword="null"/>.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="modelFolder"/> is null, empty or white space, or a model with the same id is already served.</exception>
    public static IServiceCollection AddLmHeadServer(this IServiceCollection services, string modelFolder, string? modelId = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(modelFolder);
        string id = modelId ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(modelFolder)));
        AddServedModel(services, id);
        services.AddLmHeadChatClient(modelFolder, id, ServedModel.KeyFor(id));
        return services;
    }

    /// <summary>Serves a model through an existing generator (the caller keeps ownership of its model).</summary>
    /// <param name="services">The services.</param>
    /// <param name="generator">The generator.</param>
    /// <param name="modelId">The model id clients ask for.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="generator"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="modelId"/> is null, empty or white space, or a model with the same id is already served.</exception>
    public static IServiceCollection AddLmHeadServer(this IServiceCollection services, TextGenerator generator, string modelId)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(generator);
        AddServedModel(services, modelId);
        services.AddLmHeadChatClient(generator, modelId, ServedModel.KeyFor(modelId));
        return services;
    }

    private static void AddServedModel(IServiceCollection services, string modelId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelId);
        if (services.Any(d => d.ServiceType == typeof(ServedModel) && d.ImplementationInstance is ServedModel m && m.Id == modelId))
        {
            throw new ArgumentException($"The model id '{modelId}' is already served; give each model its own id.", nameof(modelId));
        }

        services.AddSingleton(new ServedModel(modelId, DateTimeOffset.UtcNow));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, ServedModelWarmUp>());
    }
}
