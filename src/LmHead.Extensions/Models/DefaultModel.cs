namespace LmHead.Extensions.Models;

/// <summary>
/// Finds the small default model (<c>models/tiny-shakespeare</c>: a GPT-2 trained on Shakespeare by this project) that the
/// repository's apps use when no model folder is given.
/// </summary>
public static class DefaultModel
{
    /// <summary>The folder name of the default model under <c>models/</c>.</summary>
    public const string Name = "tiny-shakespeare";

    /// <summary>The environment variable that overrides the default model folder.</summary>
    public const string EnvironmentVariable = "LMHEAD_MODEL";

    /// <summary>
    /// Returns the default model folder: <c>$LMHEAD_MODEL</c> when set, else <c>models/tiny-shakespeare</c> next to the
    /// application (the repository's apps copy it there), else in the current directory or one of its parents.
    /// </summary>
    /// <returns>A folder holding <c>config.json</c>.</returns>
    /// <exception cref="DirectoryNotFoundException">No default model was found; the message lists where it looked.</exception>
    public static string FindFolder()
    {
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } fromEnvironment)
        {
            return File.Exists(Path.Combine(fromEnvironment, Gpt2Pretrained.ConfigFileName))
                ? fromEnvironment
                : throw new DirectoryNotFoundException($"{EnvironmentVariable} is '{fromEnvironment}', which has no {Gpt2Pretrained.ConfigFileName}.");
        }

        var looked = new List<string>();
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                string candidate = Path.Combine(directory.FullName, "models", Name);
                looked.Add(candidate);
                if (File.Exists(Path.Combine(candidate, Gpt2Pretrained.ConfigFileName)))
                {
                    return candidate;
                }
            }
        }

        throw new DirectoryNotFoundException(
            $"The default model '{Name}' was not found (looked in {string.Join(", ", looked.Distinct().Take(4))}, ...). Pass a model folder, or set {EnvironmentVariable}.");
    }
}
