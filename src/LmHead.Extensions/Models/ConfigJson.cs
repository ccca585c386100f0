using System.Text.Json;

namespace LmHead.Extensions.Models;

/// <summary>Reads a <c>config.json</c> with the same limits as every model file (regular file, 16 MiB, UTF-8).</summary>
internal static class ConfigJson
{
    /// <summary>Reads the text of a config.json, without a byte-order mark.</summary>
    /// <exception cref="ModelFormatException">The file is unreadable, too large or not UTF-8.</exception>
    internal static string ReadText(string path)
    {
        byte[] bytes = ModelFile.ReadAllBytes(path, ModelFile.MaxConfigBytes);
        ReadOnlySpan<byte> content = bytes.AsSpan();
        if (content.StartsWith("\uFEFF"u8))
        {
            content = content[3..];
        }

        return System.Text.Unicode.Utf8.IsValid(content)
            ? System.Text.Encoding.UTF8.GetString(content)
            : throw new ModelFormatException(path, null, "the file is not valid UTF-8 text.");
    }

    /// <summary>Parses a config.json into a document the caller disposes.</summary>
    /// <exception cref="ModelFormatException">The file is unreadable, too large, not UTF-8 or not JSON.</exception>
    internal static JsonDocument Parse(string path)
    {
        string text = ReadText(path);
        try
        {
            return JsonDocument.Parse(text);
        }
        catch (JsonException ex)
        {
            throw new ModelFormatException(path, null, $"invalid JSON: {ex.Message}", ex);
        }
    }
}
