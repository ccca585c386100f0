using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.SemanticKernel.Tests;

/// <summary>
/// Tiny GPT-2 checkpoints with random weights in the Hugging Face folder layout, created once per test run. The
/// vocabulary is GPT-2's full 50,257 tokens so the built-in tokenizer can encode any prompt.
/// </summary>
[TestClass]
public static class TinyModels
{
    /// <summary>A model saved to a temporary folder named <c>tiny-a</c>.</summary>
    public static string FolderA { get; private set; } = "";

    /// <summary>A second, differently seeded model in a folder named <c>tiny-b</c>.</summary>
    public static string FolderB { get; private set; } = "";

    private static string s_root = "";

    [AssemblyInitialize]
    public static void Create(TestContext context)
    {
        _ = context;
        s_root = Path.Combine(Path.GetTempPath(), "lmhead-sk-tests", Guid.NewGuid().ToString("N"));
        FolderA = Save(Path.Combine(s_root, "tiny-a"), seed: 1);
        FolderB = Save(Path.Combine(s_root, "tiny-b"), seed: 2);
    }

    [AssemblyCleanup]
    public static void Delete()
    {
        try
        {
            Directory.Delete(s_root, recursive: true);
        }
        catch (IOException)
        {
            // A loaded model may still hold its file open on some platforms; the temp folder is cleaned eventually.
        }
    }

    public static Gpt2Config Config() => new()
    {
        HiddenSize = 32,
        LayerCount = 2,
        HeadCount = 4,
        MaxPositions = 256,
    };

    public static string Save(string folder, long seed)
    {
        using var model = new Gpt2Model(Config());
        var generator = new Generator((ulong)seed);
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

    /// <summary>A generator over model A, for computing expected outputs directly.</summary>
    public static TextGenerator GeneratorA => s_generatorA.Value;

    /// <summary>A generator over model B.</summary>
    public static TextGenerator GeneratorB => s_generatorB.Value;

    private static readonly Lazy<TextGenerator> s_generatorA = new(() => new TextGenerator(Gpt2Pretrained.Load(FolderA)));
    private static readonly Lazy<TextGenerator> s_generatorB = new(() => new TextGenerator(Gpt2Pretrained.Load(FolderB)));
}
