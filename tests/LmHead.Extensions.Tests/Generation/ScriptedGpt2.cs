using LmHead.Extensions.Models;
using LmHead.Extensions.Tests.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Generation;

/// <summary>
/// A GPT-2 whose greedy output is known in advance: every block is zero (the residual stream passes through), so the
/// last hidden state is <c>ln_f(wpe[p])</c>; with <c>wpe[p]</c> a one-hot vector and an untied <c>lm_head</c> whose row
/// for the scripted token points the same way, position p's argmax is the scripted token. It runs through the real
/// model code, with the real 50257-token vocabulary.
/// </summary>
internal static class ScriptedGpt2
{
    internal static Gpt2Model Create(IReadOnlyList<int> script, int promptLength, int? endOfText = null)
    {
        var config = TinyGpt2.Config(vocabularySize: 50257, tied: false) with { EosTokenId = endOfText, BosTokenId = null };
        var model = new Gpt2Model(config); // zeros everywhere, LayerNorm weights one
        int d = config.HiddenSize;
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        using var noGrad = no_grad();
        for (int k = 0; k < script.Count; k++)
        {
            int position = promptLength - 1 + k;
            if (position >= d)
            {
                throw new ArgumentException("The script is longer than the one-hot positions available.", nameof(script));
            }

            using var position1 = parameters["transformer.wpe.weight"][position];
            position1[position] = tensor(1f);
            using var row = parameters["lm_head.weight"][script[k]];
            using var centered = full(d, -10f / d);
            centered[position] = tensor(10f - 10f / d);
            row.add_(centered);
        }

        return model;
    }
}
