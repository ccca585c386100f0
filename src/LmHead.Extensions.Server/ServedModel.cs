namespace LmHead.Extensions.Server;

/// <summary>A model the server serves: its id (the request's <c>model</c>) and when it was registered.</summary>
internal sealed record ServedModel(string Id, DateTimeOffset Created)
{
    /// <summary>The key of the model's <see cref="Microsoft.Extensions.AI.IChatClient"/> in the service provider.</summary>
    internal string ServiceKey => KeyFor(Id);

    internal static string KeyFor(string id) => "LmHead.Extensions.Server:" + id;
}
