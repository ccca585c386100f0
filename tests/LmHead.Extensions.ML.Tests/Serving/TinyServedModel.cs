using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Serving;

/// <summary>
/// A tiny GPT-2 checkpoint with random weights in the Hugging Face folder layout (GPT-2's full 50,257-token vocabulary,
/// so the built-in tokenizer encodes any prompt), saved once per test run to a temporary folder.
/// </summary>
internal static class TinyServedModel
{
    private static readonly Lazy<string> s_folder = new(() => Save(Path.Combine(Path.GetTempPath(), "lmhead-ml-tests", Guid.NewGuid().ToString("N"))));

    /// <summary>The folder of the model.</summary>
    public static string Folder => s_folder.Value;

    private static string Save(string folder)
    {
        using var model = new Gpt2Model(new Gpt2Config { HiddenSize = 32, LayerCount = 2, HeadCount = 4, MaxPositions = 256 });
        var generator = new Generator(1);
        using (no_grad())
        {
            foreach (var (name, parameter) in model.named_parameters())
            {
                using var noise = randn(parameter.shape, generator: generator);
                bool isNormWeight = name.Contains(".ln_", StringComparison.Ordinal) && name.EndsWith(".weight", StringComparison.Ordinal);
                using var value = isNormWeight ? 1.0 + 0.2 * noise : 0.5 * noise;
                parameter.copy_(value);
            }
        }

        Gpt2Pretrained.Save(model, folder);
        return folder;
    }
}
