using LmHead.Extensions.Models;

namespace LmHead.Extensions.Examples;

/// <summary>
/// Finds the model an example runs on: the folder given as the first argument, else the shipped default model
/// (<c>models/tiny-shakespeare</c>, found by <see cref="DefaultModel.FindFolder"/>).
/// </summary>
internal static class ExampleModel
{
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

        string folder = DefaultModel.FindFolder();
        Console.WriteLine($"Model: {folder}");
        return folder;
    }
}
