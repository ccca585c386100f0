namespace LmHead.Extensions.Models;

/// <summary>
/// A model folder or file could not be read: bad JSON, an unsupported architecture, a missing, unknown or misshapen
/// tensor, or a truncated or corrupt safetensors file. The message names the file and, where there is one, the key.
/// </summary>
public sealed class ModelFormatException : Exception
{
    /// <summary>Creates the exception with no details.</summary>
    public ModelFormatException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What is wrong.</param>
    public ModelFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    /// <param name="message">What is wrong.</param>
    /// <param name="innerException">The underlying error.</param>
    public ModelFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a file and, optionally, a key in it.</summary>
    /// <param name="filePath">The file that is malformed.</param>
    /// <param name="key">The tensor or JSON key concerned, or <see langword="null"/>.</param>
    /// <param name="message">What is wrong.</param>
    /// <param name="innerException">The underlying error, or <see langword="null"/>.</param>
    public ModelFormatException(string filePath, string? key, string message, Exception? innerException = null)
        : base($"{filePath}{(key is null ? "" : $" [{key}]")}: {message}", innerException)
    {
        FilePath = filePath;
        Key = key;
    }

    /// <summary>The file that is malformed, when known.</summary>
    public string? FilePath { get; }

    /// <summary>The tensor or JSON key concerned, when there is one.</summary>
    public string? Key { get; }
}
