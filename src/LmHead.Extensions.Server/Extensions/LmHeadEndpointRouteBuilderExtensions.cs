using LmHead.Extensions.Server.OpenAi;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the OpenAI-compatible endpoints for the models added with <c>AddLmHeadServer</c>.</summary>
public static class LmHeadEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps <c>GET {prefix}/models</c>, <c>GET {prefix}/models/{id}</c>, <c>POST {prefix}/completions</c> and
    /// <c>POST {prefix}/chat/completions</c> (whole or streamed as server-sent events), plus a 404 in OpenAI's error
    /// shape for any other URL under the prefix.
    /// </summary>
    /// <param name="endpoints">The endpoint route builder (a <c>WebApplication</c>).</param>
    /// <param name="prefix">The route prefix; OpenAI clients expect <c>/v1</c> after the base address.</param>
    /// <returns>The route group, to add authorization, rate limiting or CORS to every endpoint.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="endpoints"/> or <paramref name="prefix"/> is null.</exception>
    public static RouteGroupBuilder MapLmHeadOpenAi(this IEndpointRouteBuilder endpoints, string prefix = "/v1")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(prefix);
        var group = endpoints.MapGroup(prefix);
        group.MapGet("/models", OpenAiEndpoints.ListModelsAsync);
        group.MapGet("/models/{id}", OpenAiEndpoints.GetModelAsync);
        group.MapPost("/completions", OpenAiEndpoints.CompletionsAsync);
        group.MapPost("/chat/completions", OpenAiEndpoints.ChatCompletionsAsync);
        group.Map("/{**path}", OpenAiEndpoints.UnknownUrlAsync);
        return group;
    }
}
