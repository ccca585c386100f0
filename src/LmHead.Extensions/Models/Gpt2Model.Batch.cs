using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <content>Ragged batched steps for continuous batching, and the managed decode step behind every cached decoding step.</content>
public sealed partial class Gpt2Model
{
    /// <summary>
    /// Whether cached one-token steps take the managed decode step (<see langword="true"/>, the default, where the model
    /// supports it) or libtorch; tests and benchmarks compare the two.
    /// </summary>
    internal bool UseManagedDecodeStep { get; set; } = true;

    /// <summary>The managed decode step, or <see langword="null"/> where the model takes the libtorch path.</summary>
    private Gpt2DecodeStep? DecodeStep => UseManagedDecodeStep ? _decodeStep.Value : null;

    /// <summary>
    /// Runs one forward step for several independent sequences at once, each with its own cache (and so its own
    /// position), each extended by its own new tokens; returns the last hidden state (after <c>ln_f</c>) of each sequence.
    /// </summary>
    /// <remarks>
    /// On the CPU every sequence runs in one managed step, decoding sequences (one new token) and prefilling ones (a prompt
    /// chunk, one activation row per token, attending causally) together, which reads every weight once for all of them
    /// and never enters libtorch's thread pool; a sequence's result is bit-identical whichever other sequences share the
    /// step, and a one-token step equals its single-sequence cached step (<see cref="ComputeHiddenStates"/> with one
    /// token). Elsewhere (another device or dtype) the sequences run one at a time on the libtorch path.
    /// </remarks>
    /// <param name="caches">One single-sequence cache per sequence (from <see cref="CreateKvCache"/>), each extended by this call.</param>
    /// <param name="newTokens">The new token ids of each sequence: one for a decoding sequence, a chunk for a prefilling one.</param>
    /// <returns>Hidden states <c>[B, d]</c> in <see cref="DType"/>, row i for sequence i; the caller owns the tensor.</returns>
    /// <exception cref="ArgumentNullException">A list, a cache or a token array is null.</exception>
    /// <exception cref="ArgumentException">
    /// The lists are empty or of different lengths, a cache appears twice, holds a batch of more than one sequence or was
    /// disposed, a token array is empty, or a sequence would exceed <c>n_positions</c>.
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is outside the vocabulary.</exception>
    /// <exception cref="ObjectDisposedException">The model was disposed.</exception>
    public override Tensor ComputeLastHiddenStates(IReadOnlyList<KvCache> caches, IReadOnlyList<int[]> newTokens)
    {
        ArgumentNullException.ThrowIfNull(caches);
        ArgumentNullException.ThrowIfNull(newTokens);
        var own = ValidateBatch(caches, newTokens, cache => OwnCache(cache, nameof(caches))!, $"this GPT-2 model supports at most n_positions = {Config.MaxPositions}");
        using var use = EnterUse();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int count = caches.Count;
        var output = empty([count, Config.HiddenSize], DType, Device);
        if (DecodeStep is { } step)
        {
            RunDecodeStep(step, [.. Enumerable.Range(0, count).Select(i => new Gpt2DecodeStep.Sequence(own[i], 0, newTokens[i]))], output, [.. Enumerable.Range(0, count)]);
        }
        else
        {
            for (int i = 0; i < count; i++)
            {
                var ids = tensor(newTokens[i], ScalarType.Int64).to(Device);
                var hidden = ForwardHidden(ids, own[i], null, withGradients: false);
                output[i].copy_(hidden[hidden.shape[0] - 1]);
            }
        }

        return output.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Runs the managed step for the sequences' new tokens (one per row of a batch cache; any number for a single-sequence
    /// cache), writing row <c>rows[i]</c> of <paramref name="output"/>, and commits the caches.
    /// </summary>
    private static void RunDecodeStep(Gpt2DecodeStep step, IReadOnlyList<Gpt2DecodeStep.Sequence> sequences, Tensor output, IReadOnlyList<int> rows)
    {
        var caches = sequences.GroupBy(s => s.Cache, ReferenceEqualityComparer.Instance)
            .Select(g => (Cache: (Gpt2KvCache)g.Key!, Rows: g.Count(), Added: g.First().Tokens.Length)).ToArray();
        foreach (var (cache, count, added) in caches)
        {
            cache.Reserve(cache.BatchSize ?? count, cache.Length + added);
        }

        step.Run(sequences, output, rows);
        foreach (var (cache, count, added) in caches)
        {
            int batch = cache.BatchSize ?? count;
            long[] before = cache.RealCounts ?? new long[batch];
            using var padding = cache.Padding is { } past ? cat([past, zeros(batch, added, ScalarType.Bool, past.device)], 1) : null;
            cache.Commit(added, batch, padding, [.. before.Select(c => c + added)]);
        }
    }
}
