using LmHead.Extensions.Decoding;
using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// A decoder-only (causal) language model behind the head: what <see cref="Generation.TextGenerator"/>, continuous
/// batching, the Semantic Kernel service and the server need from a model, whatever its architecture
/// (<see cref="Gpt2Model"/> and the Llama family). The last hidden states and the head
/// (<see cref="GetOutputEmbeddings"/>) are separate steps, so a <see cref="LogitsProjector"/> and a
/// <see cref="DecodingPipeline"/> can sit between them. Load one from a Hugging Face folder with
/// <see cref="PretrainedModel.Load"/>.
/// </summary>
/// <remarks>
/// Every call runs under <c>no_grad</c> and leaves no intermediate tensor behind. Disposing the model while requests run
/// makes every later call throw <see cref="ObjectDisposedException"/> at once, and frees the parameters once the forward
/// pass in progress (if any) has finished.
/// </remarks>
public abstract class CausalLanguageModel : nn.Module<Tensor, Tensor>, IHasOutputEmbeddings
{
    // Readers are forward passes (and TextGenerator steps); the writer is Dispose, so a model disposed while requests
    // are in flight waits for the running native step to finish and never frees parameters under a running kernel.
    // Dispose raises _disposed before it waits, so every step that has not started yet (and a step that reaches its
    // next forward pass) throws ObjectDisposedException at once instead of queuing behind the writer and then running.
    // Never disposed itself: it holds no native resource until contended, and a disposed lock would turn late
    // callers' errors into its own.
    private readonly ReaderWriterLockSlim _lifetime = new(LockRecursionPolicy.SupportsRecursion);
    private readonly string _displayName;
    private volatile bool _disposed;
    private bool _parametersFreed;

    /// <summary>Creates the module; only this assembly's architectures derive from it.</summary>
    /// <param name="moduleName">The TorchSharp module name.</param>
    /// <param name="displayName">The architecture's name in messages ("GPT-2", "Llama").</param>
    private protected CausalLanguageModel(string moduleName, string displayName)
        : base(moduleName)
    {
        _displayName = displayName;
    }

    /// <summary>How many token ids the model knows (rows of the output embeddings).</summary>
    public abstract int VocabularySize { get; }

    /// <summary>The most positions one sequence may hold (the context window).</summary>
    public abstract int ContextLength { get; }

    /// <summary>The id a generation starts from when the prompt is empty, or <see langword="null"/> when the model has none.</summary>
    public abstract int? BosTokenId { get; }

    /// <summary>The ids that end a generation (config.json's <c>eos_token_id</c>, an id or a list); empty when none.</summary>
    public abstract IReadOnlyList<int> EosTokenIds { get; }

    /// <summary>The dtype of the parameters (float32, float16 or bfloat16; activations may be wider, see the model).</summary>
    public abstract ScalarType DType { get; }

    /// <summary>The device of the parameters.</summary>
    public abstract Device Device { get; }

    /// <summary>The width of the last hidden states (the head's input).</summary>
    public abstract int HiddenSize { get; }

    /// <summary>How many decoder blocks the model has.</summary>
    public abstract int LayerCount { get; }

    /// <summary>Whether the model has been disposed.</summary>
    public bool IsDisposed => _disposed;

    /// <summary>Creates an empty key/value cache for incremental decoding with this model.</summary>
    /// <returns>A cache the caller disposes.</returns>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public abstract KvCache CreateKvCache();

    /// <inheritdoc />
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public abstract LogitsProjector GetOutputEmbeddings();

    /// <summary>Computes logits for every position (the model's <c>forward</c>, without a cache).</summary>
    /// <param name="input">Token ids <c>[T]</c> or <c>[B, T]</c>.</param>
    /// <returns>Logits <c>[T, V]</c> or <c>[B, T, V]</c>; the caller owns the tensor.</returns>
    public override Tensor forward(Tensor input) => ComputeLogits(input);

    /// <summary>Computes logits for every input position.</summary>
    /// <param name="inputIds">Token ids <c>[T]</c> or <c>[B, T]</c> (integer dtype).</param>
    /// <param name="cache">A cache of this model holding the earlier positions, extended by this call; or <see langword="null"/>.</param>
    /// <param name="attentionMask">For left-padded batches, <c>[B, T]</c> with 1 for real tokens and 0 for padding; or <see langword="null"/>.</param>
    /// <returns>Logits <c>[T, V]</c> or <c>[B, T, V]</c>; the caller owns the tensor.</returns>
    /// <exception cref="ArgumentException">The ids, mask or cache do not fit, or the sequence would exceed the context.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is outside the vocabulary.</exception>
    /// <exception cref="ObjectDisposedException">The cache or the model was disposed.</exception>
    public abstract Tensor ComputeLogits(Tensor inputIds, KvCache? cache = null, Tensor? attentionMask = null);

    /// <summary>Computes the last hidden states (after the final norm) for every input position: the vectors the head projects.</summary>
    /// <param name="inputIds">Token ids <c>[T]</c> or <c>[B, T]</c> (integer dtype).</param>
    /// <param name="cache">A cache of this model holding the earlier positions, extended by this call; or <see langword="null"/>.</param>
    /// <param name="attentionMask">
    /// For left-padded batches, <c>[B, T]</c> with 1 for real tokens and 0 for padding; positions then count real tokens
    /// only, so each row matches its unpadded run. <see langword="null"/> means no padding.
    /// </param>
    /// <returns>Hidden states <c>[T, d]</c> or <c>[B, T, d]</c> in <see cref="DType"/>; the caller owns the tensor.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="inputIds"/> is null.</exception>
    /// <exception cref="ArgumentException">The ids, mask or cache do not fit, or the sequence would exceed the context.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is outside the vocabulary.</exception>
    /// <exception cref="ObjectDisposedException">The cache or the model was disposed.</exception>
    public abstract Tensor ComputeHiddenStates(Tensor inputIds, KvCache? cache = null, Tensor? attentionMask = null);

    /// <summary>
    /// Runs one forward step for several independent sequences at once, each with its own single-sequence cache (and so
    /// its own position), each extended by its own new tokens; returns the last hidden state of each sequence. This is
    /// the step of continuous batching.
    /// </summary>
    /// <param name="caches">One single-sequence cache per sequence (from <see cref="CreateKvCache"/>), each extended by this call.</param>
    /// <param name="newTokens">The new token ids of each sequence: one for a decoding sequence, a chunk for a prefilling one.</param>
    /// <returns>Hidden states <c>[B, d]</c> in <see cref="DType"/>, row i for sequence i; the caller owns the tensor.</returns>
    /// <exception cref="ArgumentNullException">A list, a cache or a token array is null.</exception>
    /// <exception cref="ArgumentException">
    /// The lists are empty or of different lengths, a cache appears twice, holds a batch of more than one sequence, was
    /// disposed or belongs to another architecture, a token array is empty, or a sequence would exceed the context.
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is outside the vocabulary.</exception>
    /// <exception cref="ObjectDisposedException">The model was disposed.</exception>
    public abstract Tensor ComputeLastHiddenStates(IReadOnlyList<KvCache> caches, IReadOnlyList<int[]> newTokens);

    /// <summary>
    /// Marks the calling thread as using the parameters until the returned scope is disposed; <see cref="Dispose(bool)"/>
    /// waits for every such scope.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    internal UseScope EnterUse()
    {
        // Checked before and after taking the lock: before, so a caller does not wait for a disposal in progress;
        // after, because Dispose may have begun while this thread waited.
        ThrowIfDisposed();
        _lifetime.EnterReadLock();
        if (_disposed)
        {
            _lifetime.ExitReadLock();
            ThrowIfDisposed();
        }

        return new UseScope(_lifetime);
    }

    /// <summary>
    /// The argument checks of <see cref="ComputeLastHiddenStates"/>, shared by every architecture: one cache (of this
    /// model's kind, converted by <paramref name="own"/>) and at least one token per sequence, no cache twice, no batch
    /// cache, no sequence past <see cref="ContextLength"/> (<paramref name="limit"/> words the limit in the message), no
    /// token outside the vocabulary. Returns the converted caches.
    /// </summary>
    private protected TCache[] ValidateBatch<TCache>(IReadOnlyList<KvCache> caches, IReadOnlyList<int[]> newTokens, Func<KvCache, TCache> own, string limit)
        where TCache : KvCache
    {
        if (caches.Count == 0 || caches.Count != newTokens.Count)
        {
            throw new ArgumentException(
                $"caches and newTokens must hold one entry per sequence (at least one), but hold {caches.Count} and {newTokens.Count}.", nameof(newTokens));
        }

        var owned = new TCache[caches.Count];
        var seen = new HashSet<KvCache>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < owned.Length; i++)
        {
            var cache = owned[i] = own(caches[i] ?? throw new ArgumentNullException(nameof(caches), $"caches[{i}] is null."));
            int[] tokens = newTokens[i] ?? throw new ArgumentNullException(nameof(newTokens), $"newTokens[{i}] is null.");
            cache.ThrowIfDisposed();
            if (!seen.Add(cache))
            {
                throw new ArgumentException($"caches[{i}] appears more than once; each sequence needs its own cache.", nameof(caches));
            }

            if (cache.BatchSize is > 1)
            {
                throw new ArgumentException($"caches[{i}] holds a batch of {cache.BatchSize} sequences; each cache must hold one sequence.", nameof(caches));
            }

            if (tokens.Length == 0)
            {
                throw new ArgumentException($"newTokens[{i}] is empty; every sequence needs at least one new token.", nameof(newTokens));
            }

            if (cache.Length + tokens.Length > ContextLength)
            {
                throw new ArgumentException(
                    $"Sequence {i} would be {cache.Length + tokens.Length} positions long ({cache.Length} cached + {tokens.Length} new), but {limit}.",
                    nameof(newTokens));
            }

            if (tokens.FirstOrDefault(t => t < 0 || t >= VocabularySize, -1) is var bad and not -1)
            {
                throw new ArgumentOutOfRangeException(nameof(newTokens), bad, $"newTokens[{i}] holds token id {bad}; ids must be in [0, {VocabularySize}).");
            }
        }

        return owned;
    }

    private void ThrowIfDisposed()
    {
        if (_disposed)
        {
            throw new ObjectDisposedException(GetType().Name, $"The {_displayName} model has been disposed; requests that were still running when it was disposed fail with this exception.");
        }
    }

    /// <summary>
    /// Makes every later call throw <see cref="ObjectDisposedException"/> at once, then disposes the parameters as soon as
    /// the forward pass running (if any) has finished.
    /// </summary>
    /// <param name="disposing">Whether this is a call to <see cref="IDisposable.Dispose"/> rather than a finalizer.</param>
    protected override void Dispose(bool disposing)
    {
        if (!disposing)
        {
            base.Dispose(disposing);
            return;
        }

        _disposed = true;
        _lifetime.EnterWriteLock();
        try
        {
            if (_parametersFreed)
            {
                return;
            }

            _parametersFreed = true;
            base.Dispose(disposing);
        }
        finally
        {
            _lifetime.ExitWriteLock();
        }
    }

    /// <summary>Holds a read lock on a model's lifetime; see <see cref="EnterUse"/>.</summary>
    internal readonly struct UseScope(ReaderWriterLockSlim gate) : IDisposable
    {
        public void Dispose() => gate.ExitReadLock();
    }
}
