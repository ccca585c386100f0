using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

public sealed partial class Gpt2Model
{
    /// <summary>
    /// Runs one forward step for several independent sequences at once, each with its own cache (and so its own
    /// position), each extended by its own new tokens; returns the last hidden state (after <c>ln_f</c>) of each sequence.
    /// </summary>
    /// <remarks>
    /// This version runs the sequences one after another through <see cref="ComputeHiddenStates"/>, so each row is
    /// exactly the row a single-sequence call gives, whatever else is in the batch. Every argument is checked before any
    /// cache is extended, so a rejected call leaves every cache as it was.
    /// </remarks>
    /// <param name="caches">One single-sequence cache per sequence (from <see cref="CreateKvCache"/>), each at most once.</param>
    /// <param name="newTokens">Per sequence, its new token ids (one for a decoding sequence, a prompt chunk for a prefilling one).</param>
    /// <returns>Hidden states <c>[B, d]</c> in <see cref="DType"/>, row i for sequence i; the caller owns the tensor.</returns>
    /// <exception cref="ArgumentNullException">An argument, a cache or a token array is null.</exception>
    /// <exception cref="ArgumentException">
    /// The lists are empty or differ in length, a token array is empty, a cache appears twice or holds a batch of more
    /// than one sequence, or a sequence would exceed <c>n_positions</c>.
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is outside the vocabulary.</exception>
    /// <exception cref="ObjectDisposedException">A cache or the model was disposed.</exception>
    public Tensor ComputeLastHiddenStates(IReadOnlyList<Gpt2KvCache> caches, IReadOnlyList<int[]> newTokens)
    {
        ArgumentNullException.ThrowIfNull(caches);
        ArgumentNullException.ThrowIfNull(newTokens);
        ValidateBatch(caches, newTokens);
        using var use = EnterUse();
        using var scope = NewDisposeScope();
        var rows = new Tensor[caches.Count];
        for (int i = 0; i < rows.Length; i++)
        {
            using var ids = tensor(Array.ConvertAll(newTokens[i], id => (long)id), device: Device);
            rows[i] = ComputeHiddenStates(ids, caches[i])[-1];
        }

        return stack(rows).MoveToOuterDisposeScope();
    }

    private void ValidateBatch(IReadOnlyList<Gpt2KvCache> caches, IReadOnlyList<int[]> newTokens)
    {
        if (caches.Count == 0 || caches.Count != newTokens.Count)
        {
            throw new ArgumentException(
                $"caches and newTokens must hold one entry per sequence, at least one, but hold {caches.Count} and {newTokens.Count}.", nameof(newTokens));
        }

        var seen = new HashSet<Gpt2KvCache>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < caches.Count; i++)
        {
            var cache = caches[i] ?? throw new ArgumentNullException(nameof(caches), $"caches[{i}] is null.");
            int[] tokens = newTokens[i] ?? throw new ArgumentNullException(nameof(newTokens), $"newTokens[{i}] is null.");
            cache.ThrowIfDisposed();
            if (!seen.Add(cache))
            {
                throw new ArgumentException($"caches[{i}] appears more than once; each sequence needs its own cache.", nameof(caches));
            }

            if (cache.BatchSize is > 1)
            {
                throw new ArgumentException($"caches[{i}] holds a batch of {cache.BatchSize} sequences; each entry must be a single-sequence cache.", nameof(caches));
            }

            if (tokens.Length == 0)
            {
                throw new ArgumentException($"newTokens[{i}] is empty; every sequence needs at least one new token.", nameof(newTokens));
            }

            if (cache.Length + tokens.Length > Config.MaxPositions)
            {
                throw new ArgumentException(
                    $"Sequence {i} would be {cache.Length + tokens.Length} positions long ({cache.Length} cached + {tokens.Length} new), but this GPT-2 model supports at most n_positions = {Config.MaxPositions}.",
                    nameof(newTokens));
            }

            if (Array.FindIndex(tokens, id => id < 0 || id >= Config.VocabularySize) is var bad and >= 0)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(newTokens), $"Token ids must be in [0, {Config.VocabularySize}), but newTokens[{i}][{bad}] is {tokens[bad]}.");
            }
        }
    }
}
