using LmHead.Extensions.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.Training;

/// <summary>
/// The tokens a corpus uses, plus one pooled class standing for all the others (see <see cref="Gpt2Trainer"/>).
/// </summary>
internal sealed class PooledVocabulary
{
    private readonly long[] _used;
    private readonly long[] _unused;
    private readonly long[] _remap;

    private PooledVocabulary(long[] used, long[] unused, long[] remap)
    {
        _used = used;
        _unused = unused;
        _remap = remap;
    }

    public int UsedCount => _used.Length;

    public static PooledVocabulary Create(IReadOnlyList<int> tokens, int vocabularySize)
    {
        var seen = new bool[vocabularySize];
        foreach (int t in tokens)
        {
            if ((uint)t >= (uint)vocabularySize)
            {
                throw new ArgumentException($"Token id {t} is outside the model's vocabulary of {vocabularySize}.", nameof(tokens));
            }

            seen[t] = true;
        }

        var used = Enumerable.Range(0, vocabularySize).Where(i => seen[i]).Select(i => (long)i).ToArray();
        var unused = Enumerable.Range(0, vocabularySize).Where(i => !seen[i]).Select(i => (long)i).ToArray();
        var remap = new long[vocabularySize];
        for (int i = 0; i < used.Length; i++)
        {
            remap[used[i]] = i;
        }

        foreach (var u in unused)
        {
            remap[u] = used.Length;
        }

        return new PooledVocabulary(used, unused, remap);
    }

    /// <summary>Mean next-token cross-entropy of a batch of windows <c>[B, T + 1]</c> under the tied full-vocabulary softmax.</summary>
    public Tensor Loss(Gpt2Model model, Tensor windows)
    {
        using var scope = NewDisposeScope();
        long time = windows.shape[1] - 1;
        var inputs = windows.narrow(1, 0, time);
        var targets = windows.narrow(1, 1, time).flatten();
        var hidden = model.ComputeHiddenStatesWithGradients(inputs).reshape(-1, model.Config.HiddenSize);
        var weight = model.OutputEmbeddingWeight;
        var classes = _unused.Length == 0 ? _used : [.. _used, _unused[0]];
        var rows = weight.index_select(0, tensor(classes));
        var logits = nn.functional.linear(hidden, rows).to_type(ScalarType.Float32);
        if (_unused.Length > 0)
        {
            var offset = zeros(classes.Length);
            offset[classes.Length - 1] = tensor(Math.Log(_unused.Length), ScalarType.Float32);
            logits = logits + offset;
        }

        var remap = tensor(_remap);
        var loss = nn.functional.cross_entropy(logits, remap.index_select(0, targets));
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>Copies the pooled row into every unused row, so the full model equals the pooled one.</summary>
    public void TieUnusedRows(Gpt2Model model)
    {
        if (_unused.Length == 0)
        {
            return;
        }

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var weight = model.OutputEmbeddingWeight;
        var shared = weight[_unused[0]].unsqueeze(0).expand(_unused.Length, -1);
        weight.index_copy_(0, tensor(_unused), shared);
    }
}
