using LmHead.Extensions.Decoding;
using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.SemanticKernel.Diagnostics;
using LmHead.Extensions.SemanticKernel.Services;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.SemanticKernel.TextGeneration;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the LmHead text-generation service and chat client in an <see cref="IServiceCollection"/>.</summary>
/// <remarks>
/// The chat client methods return M.E.AI's <see cref="ChatClientBuilder"/> (as <c>AddChatClient</c> does), so middleware
/// chains: <c>services.AddLmHeadChatClient(folder).UseOpenTelemetry().UseLogging()</c>.
/// With a <c>serviceId</c> the service is a keyed singleton under that key (as Semantic Kernel connectors
/// register), otherwise a plain singleton. A model folder loads once, on the first request, and is shared by every
/// LmHead service registered for the same folder in the same collection; the service provider disposes it.
/// </remarks>
public static class LmHeadServiceCollectionExtensions
{
    /// <summary>Adds an <see cref="ITextGenerationService"/> on the GPT-2 model in <paramref name="modelFolder"/>.</summary>
    /// <param name="services">The services.</param>
    /// <param name="modelFolder">The folder with <c>config.json</c>, <c>model.safetensors</c> and optionally the tokenizer files.</param>
    /// <param name="modelId">The model id for selection by <c>model_id</c>; the folder's name when <see langword="null"/>.</param>
    /// <param name="serviceId">The service key, or <see langword="null"/> for an unkeyed service.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="modelFolder"/> is null, empty or white space.</exception>
    public static IServiceCollection AddLmHeadTextGeneration(this IServiceCollection services, string modelFolder, string? modelId = null, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var (key, id) = AddModelFolder(services, modelFolder, modelId);
        return services.AddKeyedSingleton<ITextGenerationService>(serviceId, (provider, _) =>
            new LmHeadTextGenerationService(provider.GetRequiredKeyedService<LmHeadModelHandle>(key).Generator, id, provider.GetService<ILoggerFactory>()));
    }

    /// <summary>
    /// Adds an <see cref="ITextGenerationService"/> on the GPT-2 model in <paramref name="modelFolder"/> whose every token
    /// is decided by <paramref name="pipeline"/>: an ML.NET chain served as the service
    /// (<c>AddLmHeadTextGeneration(folder, chain.ToDecodingPipeline())</c>) or a pipeline composed by hand.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="modelFolder">The folder with <c>config.json</c>, <c>model.safetensors</c> and optionally the tokenizer files.</param>
    /// <param name="pipeline">The pipeline; prompt settings may then set only generation options (<c>max_tokens</c>, stops, log-probabilities).</param>
    /// <param name="modelId">The model id for selection by <c>model_id</c>; the folder's name when <see langword="null"/>.</param>
    /// <param name="serviceId">The service key, or <see langword="null"/> for an unkeyed service.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="pipeline"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="modelFolder"/> is null, empty or white space.</exception>
    public static IServiceCollection AddLmHeadTextGeneration(
        this IServiceCollection services, string modelFolder, DecodingPipeline pipeline, string? modelId = null, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(pipeline);
        var (key, id) = AddModelFolder(services, modelFolder, modelId);
        return services.AddKeyedSingleton<ITextGenerationService>(serviceId, (provider, _) =>
            new LmHeadTextGenerationService(provider.GetRequiredKeyedService<LmHeadModelHandle>(key).Generator, id, provider.GetService<ILoggerFactory>()) { Pipeline = pipeline });
    }

    /// <summary>Adds an <see cref="ITextGenerationService"/> on an existing generator (the caller keeps ownership of its model).</summary>
    /// <param name="services">The services.</param>
    /// <param name="generator">The generator.</param>
    /// <param name="modelId">The model id for selection by <c>model_id</c>.</param>
    /// <param name="serviceId">The service key, or <see langword="null"/> for an unkeyed service.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="generator"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="modelId"/> is null, empty or white space.</exception>
    public static IServiceCollection AddLmHeadTextGeneration(this IServiceCollection services, TextGenerator generator, string modelId, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(generator);
        ArgumentException.ThrowIfNullOrWhiteSpace(modelId);
        return services.AddKeyedSingleton<ITextGenerationService>(serviceId, (provider, _) =>
            new LmHeadTextGenerationService(generator, modelId, provider.GetService<ILoggerFactory>()));
    }

    /// <summary>Adds an <see cref="ITextGenerationService"/> on a loaded checkpoint (the caller keeps ownership of it).</summary>
    /// <param name="services">The services.</param>
    /// <param name="pretrained">The loaded model and tokenizer.</param>
    /// <param name="modelId">The model id for selection by <c>model_id</c>.</param>
    /// <param name="serviceId">The service key, or <see langword="null"/> for an unkeyed service.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="pretrained"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="modelId"/> is null, empty or white space.</exception>
    public static IServiceCollection AddLmHeadTextGeneration(this IServiceCollection services, Gpt2Pretrained pretrained, string modelId, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(pretrained);
        return services.AddLmHeadTextGeneration(new TextGenerator(pretrained), modelId, serviceId);
    }

    /// <summary>Adds an <see cref="IChatClient"/> on the GPT-2 model in <paramref name="modelFolder"/>.</summary>
    /// <param name="services">The services.</param>
    /// <param name="modelFolder">The folder with <c>config.json</c>, <c>model.safetensors</c> and optionally the tokenizer files.</param>
    /// <param name="modelId">The model id; the folder's name when <see langword="null"/>.</param>
    /// <param name="serviceId">The service key, or <see langword="null"/> for an unkeyed service.</param>
    /// <returns>A <see cref="ChatClientBuilder"/> around the client, to add middleware (<c>.UseOpenTelemetry()</c>, <c>.UseLogging()</c>, ...) as with <c>AddChatClient</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="modelFolder"/> is null, empty or white space.</exception>
    public static ChatClientBuilder AddLmHeadChatClient(this IServiceCollection services, string modelFolder, string? modelId = null, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var (key, id) = AddModelFolder(services, modelFolder, modelId);
        return AddChatClient(services, serviceId, provider => LmHeadChatClient.ForFolder(provider.GetRequiredKeyedService<LmHeadModelHandle>(key), id));
    }

    /// <summary>Adds an <see cref="IChatClient"/> on the GPT-2 model in <paramref name="modelFolder"/> whose every token is decided by <paramref name="pipeline"/> (for example an ML.NET chain's).</summary>
    /// <param name="services">The services.</param>
    /// <param name="modelFolder">The folder with <c>config.json</c>, <c>model.safetensors</c> and optionally the tokenizer files.</param>
    /// <param name="pipeline">The pipeline; requests may then set only generation options.</param>
    /// <param name="modelId">The model id; the folder's name when <see langword="null"/>.</param>
    /// <param name="serviceId">The service key, or <see langword="null"/> for an unkeyed service.</param>
    /// <returns>A <see cref="ChatClientBuilder"/> around the client, to add middleware.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="pipeline"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="modelFolder"/> is null, empty or white space.</exception>
    public static ChatClientBuilder AddLmHeadChatClient(
        this IServiceCollection services, string modelFolder, DecodingPipeline pipeline, string? modelId = null, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(pipeline);
        var (key, id) = AddModelFolder(services, modelFolder, modelId);
        return AddChatClient(services, serviceId, provider =>
            LmHeadChatClient.ForFolder(provider.GetRequiredKeyedService<LmHeadModelHandle>(key), id, pipeline));
    }

    /// <summary>Adds an <see cref="IChatClient"/> on an existing generator (the caller keeps ownership of its model).</summary>
    /// <param name="services">The services.</param>
    /// <param name="generator">The generator.</param>
    /// <param name="modelId">The model id.</param>
    /// <param name="serviceId">The service key, or <see langword="null"/> for an unkeyed service.</param>
    /// <returns>A <see cref="ChatClientBuilder"/> around the client, to add middleware.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="generator"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="modelId"/> is null, empty or white space.</exception>
    public static ChatClientBuilder AddLmHeadChatClient(this IServiceCollection services, TextGenerator generator, string modelId, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var client = new LmHeadChatClient(generator, modelId);
        return AddChatClient(services, serviceId, _ => client);
    }

    /// <summary>Adds an <see cref="IChatClient"/> on a loaded checkpoint (the caller keeps ownership of it).</summary>
    /// <param name="services">The services.</param>
    /// <param name="pretrained">The loaded model and tokenizer.</param>
    /// <param name="modelId">The model id.</param>
    /// <param name="serviceId">The service key, or <see langword="null"/> for an unkeyed service.</param>
    /// <returns>A <see cref="ChatClientBuilder"/> around the client, to add middleware.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="pretrained"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="modelId"/> is null, empty or white space.</exception>
    public static ChatClientBuilder AddLmHeadChatClient(this IServiceCollection services, Gpt2Pretrained pretrained, string modelId, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(pretrained);
        return services.AddLmHeadChatClient(new TextGenerator(pretrained), modelId, serviceId);
    }

    // M.E.AI's registration, so the returned builder's middleware wraps the client the provider hands out.
    private static ChatClientBuilder AddChatClient(IServiceCollection services, string? serviceId, Func<IServiceProvider, IChatClient> factory) =>
        serviceId is null ? services.AddChatClient(factory) : services.AddKeyedChatClient(serviceId, factory);

    private static (string Key, string ModelId) AddModelFolder(IServiceCollection services, string modelFolder, string? modelId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelFolder);
        if (modelId is not null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(modelId);
        }

        // One key per folder however it is spelled ("m", "./m", "m/"), so the model loads once.
        string fullPath = Path.TrimEndingDirectorySeparator(Path.GetFullPath(modelFolder));
        string key = LmHeadModelHandle.KeyFor(fullPath);
        services.TryAddKeyedSingleton(key, (provider, _) =>
            new LmHeadModelHandle(fullPath, provider.GetService<ILoggerFactory>()?.CreateLogger(LmHeadTelemetry.SourceName)));
        string id = modelId ?? Path.GetFileName(fullPath);
        return (key, string.IsNullOrWhiteSpace(id) ? fullPath : id);
    }
}
