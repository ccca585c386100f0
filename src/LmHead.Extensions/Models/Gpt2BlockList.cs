using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>GPT-2's <c>h</c>: the blocks, registered as <c>0</c>, <c>1</c>, ... so parameter names match Hugging Face.</summary>
internal sealed class Gpt2BlockList : nn.Module
{
    internal Gpt2BlockList(string name, Gpt2Config config, ScalarType dtype, Device device)
        : base(name)
    {
        var blocks = new Gpt2Block[config.LayerCount];
        for (int i = 0; i < blocks.Length; i++)
        {
            string key = i.ToString(CultureInfo.InvariantCulture);
            blocks[i] = new Gpt2Block(key, config, dtype, device);
            register_module(key, blocks[i]);
        }

        Blocks = blocks;
    }

    internal IReadOnlyList<Gpt2Block> Blocks { get; }
}
