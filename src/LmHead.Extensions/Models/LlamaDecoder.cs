using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// Hugging Face's <c>model</c> of a Llama-family checkpoint: <c>embed_tokens</c>, <c>layers.0</c>, <c>layers.1</c>, ...
/// and the final <c>norm</c>, registered under those names so parameter names match the checkpoint's.
/// </summary>
internal sealed class LlamaDecoder : nn.Module
{
    internal LlamaDecoder(string name, LlamaConfig config, ScalarType dtype, Device device, bool initialise)
        : base(name)
    {
        Embedding = new LlamaLinear("embed_tokens", config.VocabularySize, config.HiddenSize, false, dtype, device, initialise);
        register_module("embed_tokens", Embedding);
        var layers = new LlamaLayerList("layers", config, dtype, device, initialise);
        register_module("layers", layers);
        Layers = layers.Layers;
        Norm = new LlamaRmsNorm("norm", config.HiddenSize, config.RmsNormEpsilon, dtype, device, initialise);
        register_module("norm", Norm);
    }

    internal LlamaLinear Embedding { get; }

    internal IReadOnlyList<LlamaLayer> Layers { get; }

    internal LlamaRmsNorm Norm { get; }

    /// <summary>The layers, registered as <c>0</c>, <c>1</c>, ...</summary>
    private sealed class LlamaLayerList : nn.Module
    {
        internal LlamaLayerList(string name, LlamaConfig config, ScalarType dtype, Device device, bool initialise)
            : base(name)
        {
            var layers = new LlamaLayer[config.LayerCount];
            for (int i = 0; i < layers.Length; i++)
            {
                string key = i.ToString(CultureInfo.InvariantCulture);
                layers[i] = new LlamaLayer(key, config, dtype, device, initialise);
                register_module(key, layers[i]);
            }

            Layers = layers;
        }

        internal IReadOnlyList<LlamaLayer> Layers { get; }
    }
}
