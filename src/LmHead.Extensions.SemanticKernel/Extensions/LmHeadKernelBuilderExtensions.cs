using LmHead.Extensions.Decoding;
using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.SemanticKernel;

/// <summary>Registers the LmHead text-generation service and chat client in an <see cref="IKernelBuilder"/>.</summary>
/// <remarks>
/// These forward to <see cref="LmHeadServiceCollectionExtensions"/> on <see cref="IKernelBuilder.Services"/>: keyed
/// singletons for a <c>serviceId</c>, and a model folder that loads once, lazily, and is shared. The chat client is
/// registered with Semantic Kernel's function invocation (<c>UseKernelFunctionInvocation</c>), as Semantic Kernel's own
/// chat-client connectors are, so plugins run with <c>FunctionChoiceBehavior.Auto()</c> or <c>Required()</c>: the model's
/// reply is constrained to a call of one of the kernel's functions with arguments matching its parameters
/// (see <see cref="LmHead.Extensions.SemanticKernel.Services.ToolCallFormat"/>).
/// </remarks>
public static class LmHeadKernelBuilderExtensions
{
    /// <summary>Adds a text-generation service on the GPT-2 model in <paramref name="modelFolder"/>.</summary>
    /// <param name="builder">The kernel builder.</param>
    /// <param name="modelFolder">The folder with <c>config.json</c>, <c>model.safetensors</c> and optionally the tokenizer files.</param>
    /// <param name="modelId">The model id for selection by <c>model_id</c>; the folder's name when <see langword="null"/>.</param>
    /// <param name="serviceId">The service key, or <see langword="null"/>.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="modelFolder"/> is null, empty or white space.</exception>
    public static IKernelBuilder AddLmHeadTextGeneration(this IKernelBuilder builder, string modelFolder, string? modelId = null, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddLmHeadTextGeneration(modelFolder, modelId, serviceId);
        return builder;
    }

    /// <summary>
    /// Adds a text-generation service on the GPT-2 model in <paramref name="modelFolder"/> whose every token is decided
    /// by <paramref name="pipeline"/>: an ML.NET chain served as the Semantic Kernel service
    /// (<c>AddLmHeadTextGeneration(folder, chain.ToDecodingPipeline())</c>) or a pipeline composed by hand.
    /// </summary>
    /// <param name="builder">The kernel builder.</param>
    /// <param name="modelFolder">The folder with <c>config.json</c>, <c>model.safetensors</c> and optionally the tokenizer files.</param>
    /// <param name="pipeline">The pipeline; prompt settings may then set only generation options (<c>max_tokens</c>, stops, log-probabilities).</param>
    /// <param name="modelId">The model id for selection by <c>model_id</c>; the folder's name when <see langword="null"/>.</param>
    /// <param name="serviceId">The service key, or <see langword="null"/>.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="pipeline"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="modelFolder"/> is null, empty or white space.</exception>
    public static IKernelBuilder AddLmHeadTextGeneration(
        this IKernelBuilder builder, string modelFolder, DecodingPipeline pipeline, string? modelId = null, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddLmHeadTextGeneration(modelFolder, pipeline, modelId, serviceId);
        return builder;
    }

    /// <summary>Adds a text-generation service on an existing generator (the caller keeps ownership of its model).</summary>
    /// <param name="builder">The kernel builder.</param>
    /// <param name="generator">The generator.</param>
    /// <param name="modelId">The model id for selection by <c>model_id</c>.</param>
    /// <param name="serviceId">The service key, or <see langword="null"/>.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="generator"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="modelId"/> is null, empty or white space.</exception>
    public static IKernelBuilder AddLmHeadTextGeneration(this IKernelBuilder builder, TextGenerator generator, string modelId, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddLmHeadTextGeneration(generator, modelId, serviceId);
        return builder;
    }

    /// <summary>Adds a text-generation service on a loaded checkpoint (the caller keeps ownership of it).</summary>
    /// <param name="builder">The kernel builder.</param>
    /// <param name="pretrained">The loaded model and tokenizer.</param>
    /// <param name="modelId">The model id for selection by <c>model_id</c>.</param>
    /// <param name="serviceId">The service key, or <see langword="null"/>.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="pretrained"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="modelId"/> is null, empty or white space.</exception>
    public static IKernelBuilder AddLmHeadTextGeneration(this IKernelBuilder builder, Gpt2Pretrained pretrained, string modelId, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddLmHeadTextGeneration(pretrained, modelId, serviceId);
        return builder;
    }

    /// <summary>Adds a Microsoft.Extensions.AI chat client on the GPT-2 model in <paramref name="modelFolder"/>.</summary>
    /// <param name="builder">The kernel builder.</param>
    /// <param name="modelFolder">The folder with <c>config.json</c>, <c>model.safetensors</c> and optionally the tokenizer files.</param>
    /// <param name="modelId">The model id; the folder's name when <see langword="null"/>.</param>
    /// <param name="serviceId">The service key, or <see langword="null"/>.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="modelFolder"/> is null, empty or white space.</exception>
    public static IKernelBuilder AddLmHeadChatClient(this IKernelBuilder builder, string modelFolder, string? modelId = null, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddLmHeadChatClient(modelFolder, modelId, serviceId).UseKernelFunctionInvocation();
        return builder;
    }

    /// <summary>Adds a Microsoft.Extensions.AI chat client on the GPT-2 model in <paramref name="modelFolder"/> whose every token is decided by <paramref name="pipeline"/> (for example an ML.NET chain's).</summary>
    /// <param name="builder">The kernel builder.</param>
    /// <param name="modelFolder">The folder with <c>config.json</c>, <c>model.safetensors</c> and optionally the tokenizer files.</param>
    /// <param name="pipeline">The pipeline; requests may then set only generation options.</param>
    /// <param name="modelId">The model id; the folder's name when <see langword="null"/>.</param>
    /// <param name="serviceId">The service key, or <see langword="null"/>.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="pipeline"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="modelFolder"/> is null, empty or white space.</exception>
    public static IKernelBuilder AddLmHeadChatClient(
        this IKernelBuilder builder, string modelFolder, DecodingPipeline pipeline, string? modelId = null, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddLmHeadChatClient(modelFolder, pipeline, modelId, serviceId).UseKernelFunctionInvocation();
        return builder;
    }

    /// <summary>Adds a Microsoft.Extensions.AI chat client on an existing generator (the caller keeps ownership of its model).</summary>
    /// <param name="builder">The kernel builder.</param>
    /// <param name="generator">The generator.</param>
    /// <param name="modelId">The model id.</param>
    /// <param name="serviceId">The service key, or <see langword="null"/>.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="generator"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="modelId"/> is null, empty or white space.</exception>
    public static IKernelBuilder AddLmHeadChatClient(this IKernelBuilder builder, TextGenerator generator, string modelId, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddLmHeadChatClient(generator, modelId, serviceId).UseKernelFunctionInvocation();
        return builder;
    }

    /// <summary>Adds a Microsoft.Extensions.AI chat client on a loaded checkpoint (the caller keeps ownership of it).</summary>
    /// <param name="builder">The kernel builder.</param>
    /// <param name="pretrained">The loaded model and tokenizer.</param>
    /// <param name="modelId">The model id.</param>
    /// <param name="serviceId">The service key, or <see langword="null"/>.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="pretrained"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="modelId"/> is null, empty or white space.</exception>
    public static IKernelBuilder AddLmHeadChatClient(this IKernelBuilder builder, Gpt2Pretrained pretrained, string modelId, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddLmHeadChatClient(pretrained, modelId, serviceId).UseKernelFunctionInvocation();
        return builder;
    }
}
