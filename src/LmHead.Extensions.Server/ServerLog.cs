using Microsoft.Extensions.Logging;

namespace LmHead.Extensions.Server;

/// <summary>The server's log messages (source-generated).</summary>
internal static partial class ServerLog
{
    [LoggerMessage(EventId = 101, Level = LogLevel.Error, Message = "{Method} {Path} failed")]
    internal static partial void RequestFailed(ILogger logger, Exception exception, string method, string path);

    [LoggerMessage(EventId = 102, Level = LogLevel.Debug, Message = "{Method} {Path}: the client disconnected; generation canceled")]
    internal static partial void ClientDisconnected(ILogger logger, string method, string path);
}
