namespace LmHead.Extensions.Server.OpenAi;

/// <summary>A request the server answers with an error in OpenAI's shape: <c>{"error":{"message","type","param","code"}}</c>.</summary>
internal sealed class OpenAiException : Exception
{
    internal OpenAiException(int statusCode, string message, string? param = null, string? code = null, string type = "invalid_request_error")
        : base(message)
    {
        StatusCode = statusCode;
        Param = param;
        Code = code;
        Type = type;
    }

    /// <summary>The HTTP status: 400 for a bad request, 404 for an unknown model or URL, 500 otherwise.</summary>
    internal int StatusCode { get; }

    /// <summary>The request parameter at fault, as the client wrote it, or <see langword="null"/>.</summary>
    internal string? Param { get; }

    /// <summary>A machine-readable code (<c>model_not_found</c>, ...), or <see langword="null"/>.</summary>
    internal string? Code { get; }

    /// <summary>OpenAI's error type: <c>invalid_request_error</c> or <c>server_error</c>.</summary>
    internal string Type { get; }

    internal static OpenAiException BadRequest(string message, string? param) => new(400, message, param);
}
