using LmHead.Extensions.Models;

namespace LmHead.Extensions.Examples;

/// <summary>
/// Finds the model an example runs on: the folder given as the first argument, else the repository's default
/// <c>models/tiny-shakespeare</c>, else a tiny random GPT-2 written to a temporary folder (so the example still runs,
/// quickly, in CI; its output is then gibberish).
/// </summary>
internal static class ExampleModel
{
    internal const string DefaultModelFolder = "models/tiny-shakespeare";

    internal static string Resolve(string[] args)
    {
        if (args.Length > 0)
        {
            if (!File.Exists(Path.Combine(args[0], Gpt2Pretrained.ConfigFileName)))
            {
                Console.Error.WriteLine($"error: '{args[0]}' is not a model folder (it has no {Gpt2Pretrained.ConfigFileName}).");
                Environment.Exit(2);
            }

            Console.WriteLine($"Model: {args[0]}");
            return args[0];
        }

        if (FindRepositoryRoot() is { } root)
        {
            string folder = Path.Combine(root, DefaultModelFolder);
            if (File.Exists(Path.Combine(folder, Gpt2Pretrained.ConfigFileName)) && File.Exists(Path.Combine(folder, Gpt2Pretrained.WeightsFileName)))
            {
                Console.WriteLine($"Model: {folder}");
                return folder;
            }
        }

        string temporary = Path.Combine(Path.GetTempPath(), "lmhead-examples", "tiny-random");
        if (!Directory.Exists(temporary))
        {
            // Written beside and then moved into place, so a crashed or concurrent run never leaves a half-written model.
            string staging = temporary + "-" + Guid.NewGuid().ToString("N");
            using (var model = new Gpt2Model(new Gpt2Config { HiddenSize = 32, LayerCount = 2, HeadCount = 4, MaxPositions = 256 }))
            {
                Gpt2Pretrained.Save(model, staging);
            }

            try
            {
                Directory.Move(staging, temporary);
            }
            catch (IOException) when (Directory.Exists(temporary))
            {
                Directory.Delete(staging, recursive: true);
            }
        }

        Console.WriteLine($"No model folder given and {DefaultModelFolder} not found: using a tiny random model in {temporary} (its text is gibberish).");
        return temporary;
    }

    /// <summary>Walks up from the app's folder to the one holding LmHead.Extensions.sln.</summary>
    private static string? FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "LmHead.Extensions.sln")))
            {
                return directory.FullName;
            }
        }

        return null;
    }
}
