using LmHead.Extensions.Decoding;
using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// GPT-2 (Hugging Face <c>GPT2LMHeadModel</c>) in TorchSharp, for inference: token and position embeddings,
/// pre-LayerNorm blocks with fused <c>c_attn</c> Conv1D attention scaled by 1/√head_dim under a causal mask,
/// <c>gelu_new</c> MLPs, a final <c>ln_f</c>, and output embeddings tied to <c>wte</c> unless the configuration says
/// otherwise. Parameter names are Hugging Face's (<c>transformer.h.0.attn.c_attn.weight</c>, ...), with Conv1D weights
/// stored <c>[in, out]</c>.
/// </summary>
/// <remarks>
/// The last hidden state (<see cref="ComputeHiddenStates"/>) and the head (<see cref="GetOutputEmbeddings"/>) are separate
/// steps, so a <see cref="LogitsProjector"/> and a <see cref="DecodingPipeline"/> can sit between them. Every call runs
/// under <c>no_grad</c> and leaves no intermediate tensor behind. Load a checkpoint with <see cref="Gpt2Pretrained"/>.
/// <para>
/// A cached step of one new token per sequence (decoding) on the CPU, in float32, float16 or bfloat16, runs in managed
/// SIMD code rather than libtorch (see <see cref="ComputeLastHiddenStates"/> and docs/benchmarks.md): each weight is read
/// once per step for all sequences, activations stay float32 while weights stay in their dtype, and attention reads the
/// cache in place. Prompts (more than one new token), calls without a cache and training take the libtorch path.
/// </para>
/// </remarks>
public sealed partial class Gpt2Model : CausalLanguageModel
{
    private readonly Gpt2Transformer _transformer;
    private readonly Gpt2Embedding? _lmHead;
    private readonly Lazy<Gpt2DecodeStep?> _decodeStep;

    /// <summary>Creates a model with the configuration's shapes; weights are zeros (LayerNorm weights ones) until loaded.</summary>
    /// <param name="config">The hyper-parameters.</param>
    /// <param name="dtype">The compute dtype of every parameter (Float32, Float16, BFloat16 or Float64).</param>
    /// <param name="device">The device, or <see langword="null"/> for the CPU.</param>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentException">The configuration is invalid or <paramref name="dtype"/> is not floating point.</exception>
    public Gpt2Model(Gpt2Config config, ScalarType dtype = ScalarType.Float32, Device? device = null)
        : base(TorchSharpRuntime.Checked("GPT2LMHeadModel"), "GPT-2")
    {
        // The check runs in the base-constructor argument: nn.Module's constructor already calls into TorchSharp.
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        if (dtype is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64))
        {
            throw new ArgumentException($"dtype must be Float32, Float16, BFloat16 or Float64, but is {dtype}.", nameof(dtype));
        }

        Config = config;
        DType = dtype;
        device ??= CPU;
        _transformer = new Gpt2Transformer("transformer", config, dtype, device);
        register_module("transformer", _transformer);
        if (!config.TieWordEmbeddings)
        {
            // A bias-free [V, d] matrix: the same single-weight holder as an embedding.
            _lmHead = new Gpt2Embedding("lm_head", config.VocabularySize, config.HiddenSize, dtype, device);
            register_module("lm_head", _lmHead);
        }

        _decodeStep = new(() => Gpt2DecodeStep.TryCreate(_transformer, Config, DType, Device));
    }

    /// <summary>The hyper-parameters.</summary>
    public Gpt2Config Config { get; }

    /// <summary>The compute dtype of the parameters.</summary>
    public override ScalarType DType { get; }

    /// <summary>The device of the parameters.</summary>
    public override Device Device => _transformer.TokenEmbedding.Weight.device;

    /// <inheritdoc />
    public override int VocabularySize => Config.VocabularySize;

    /// <summary>The most positions one sequence may hold (<c>n_positions</c>).</summary>
    public override int ContextLength => Config.MaxPositions;

    /// <inheritdoc />
    public override int? BosTokenId => Config.BosTokenId;

    /// <inheritdoc />
    public override IReadOnlyList<int> EosTokenIds => Config.EosTokenId is { } eos ? [eos] : [];

    /// <inheritdoc />
    public override int HiddenSize => Config.HiddenSize;

    /// <inheritdoc />
    public override int LayerCount => Config.LayerCount;

    /// <summary>Creates an empty key/value cache for incremental decoding with this model.</summary>
    /// <returns>A cache the caller disposes.</returns>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public override Gpt2KvCache CreateKvCache()
    {
        // The cache's storage takes the parameters' device, which a disposed model no longer has.
        using var use = EnterUse();
        return new(Config, DType, Device);
    }

    /// <summary>The output-embedding matrix itself (the live parameter), for training.</summary>
    internal Tensor OutputEmbeddingWeight => (_lmHead ?? _transformer.TokenEmbedding).Weight;

    /// <inheritdoc />
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public override LogitsProjector GetOutputEmbeddings()
    {
        using var use = EnterUse();
        return new((_lmHead ?? _transformer.TokenEmbedding).Weight);
    }

    /// <summary>Computes logits for every input position.</summary>
    /// <param name="inputIds">Token ids <c>[T]</c> or <c>[B, T]</c> (integer dtype).</param>
    /// <param name="cache">A cache holding the earlier positions, extended by this call; or <see langword="null"/>.</param>
    /// <param name="attentionMask">For left-padded batches, <c>[B, T]</c> with 1 for real tokens and 0 for padding; or <see langword="null"/>.</param>
    /// <returns>Logits <c>[T, V]</c> or <c>[B, T, V]</c>; the caller owns the tensor.</returns>
    /// <exception cref="ArgumentException">The ids, mask or cache do not fit, or the sequence would exceed <c>n_positions</c>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is outside the vocabulary.</exception>
    /// <exception cref="ObjectDisposedException">The cache or the model was disposed.</exception>
    public override Tensor ComputeLogits(Tensor inputIds, KvCache? cache = null, Tensor? attentionMask = null)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        using var use = EnterUse();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var hidden = ComputeHiddenStates(inputIds, cache, attentionMask);
        var weight = (_lmHead ?? _transformer.TokenEmbedding).Weight;
        return nn.functional.linear(hidden, weight).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Computes the last hidden states (after <c>ln_f</c>) for every input position: the "context vectors" the head projects.
    /// </summary>
    /// <param name="inputIds">Token ids <c>[T]</c> or <c>[B, T]</c> (integer dtype).</param>
    /// <param name="cache">A cache holding the earlier positions, extended by this call; or <see langword="null"/>.</param>
    /// <param name="attentionMask">
    /// For left-padded batches, <c>[B, T]</c> with 1 for real tokens and 0 for padding; positions then count real tokens
    /// only, so each row matches its unpadded run. <see langword="null"/> means no padding.
    /// </param>
    /// <returns>Hidden states <c>[T, d]</c> or <c>[B, T, d]</c> in <see cref="DType"/>; the caller owns the tensor.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="inputIds"/> is null.</exception>
    /// <exception cref="ArgumentException">The ids, mask or cache do not fit, or the sequence would exceed <c>n_positions</c>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is outside the vocabulary.</exception>
    /// <exception cref="ObjectDisposedException">The cache or the model was disposed.</exception>
    public override Tensor ComputeHiddenStates(Tensor inputIds, KvCache? cache = null, Tensor? attentionMask = null) =>
        ForwardHidden(inputIds, OwnCache(cache, nameof(cache)), attentionMask, withGradients: false);

    /// <summary>Returns <paramref name="cache"/> as this architecture's cache, or throws naming the cache's type.</summary>
    private static Gpt2KvCache? OwnCache(KvCache? cache, string paramName) => cache switch
    {
        null => null,
        Gpt2KvCache own => own,
        _ => throw new ArgumentException($"{paramName} is a {cache.GetType().Name}; a GPT-2 model needs a Gpt2KvCache from its CreateKvCache().", paramName),
    };

    /// <summary>The forward pass with autograd on, for <see cref="Training.Gpt2Trainer"/>.</summary>
    internal Tensor ComputeHiddenStatesWithGradients(Tensor inputIds) => ForwardHidden(inputIds, null, null, withGradients: true);

    private Tensor ForwardHidden(Tensor inputIds, Gpt2KvCache? cache, Tensor? attentionMask, bool withGradients)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        cache?.ThrowIfDisposed();
        using var use = EnterUse();
        using var scope = NewDisposeScope();
        using var noGrad = withGradients ? null : no_grad();
        bool single = inputIds.dim() == 1;
        var ids = single ? inputIds.unsqueeze(0) : inputIds;
        ValidateIds(ids, nameof(inputIds));
        ids = ids.to(ScalarType.Int64, Device);
        int batch = (int)ids.shape[0], time = (int)ids.shape[1];
        int past = cache?.Length ?? 0;
        if (cache?.BatchSize is { } cachedBatch && cachedBatch != batch)
        {
            throw new ArgumentException($"The cache holds a batch of {cachedBatch} sequences but inputIds has {batch} rows.", nameof(cache));
        }

        if (past + time > Config.MaxPositions)
        {
            throw new ArgumentException(
                $"The sequence would be {past + time} positions long ({past} cached + {time} new), but this GPT-2 model supports at most n_positions = {Config.MaxPositions}.",
                nameof(inputIds));
        }

        if (!withGradients && cache is not null && time == 1 && attentionMask is null && DecodeStep is { } step)
        {
            long[] tokens = ids.contiguous().data<long>().ToArray();
            var sequences = new Gpt2DecodeStep.Sequence[batch];
            for (int row = 0; row < batch; row++)
            {
                sequences[row] = new(cache, row, [(int)tokens[row]]);
            }

            var decoded = empty([batch, Config.HiddenSize], DType, Device);
            RunDecodeStep(step, sequences, decoded, [.. Enumerable.Range(0, batch)]);
            return (single ? decoded : decoded.unsqueeze(1)).MoveToOuterDisposeScope();
        }

        var (positions, padding, realCounts) = KvCache.PositionsAndPadding(batch, time, past, cache, attentionMask, Device);
        var queryPositions = arange(past, past + time, device: Device).unsqueeze(1);
        var keyPositions = arange(past + time, device: Device).unsqueeze(0);
        var blocked = keyPositions.gt(queryPositions).view(1, 1, time, past + time);
        if (padding is not null)
        {
            blocked = blocked.logical_or(padding.view(batch, 1, 1, past + time));
        }

        // libtorch's CPU kernels for float16 and bfloat16 are slow (a 512-token float16 prompt took a minute): on the CPU
        // a half-precision model computes in float32, its weights widened one layer at a time.
        var activations = DType is ScalarType.Float16 or ScalarType.BFloat16 && Device.type == DeviceType.CPU ? ScalarType.Float32 : DType;
        var x = _transformer.TokenEmbedding.Forward(ids).to_type(activations) + _transformer.PositionEmbedding.Forward(positions).to_type(activations);
        for (int layer = 0; layer < _transformer.Blocks.Blocks.Count; layer++)
        {
            x = _transformer.Blocks.Blocks[layer].Forward(x, blocked, cache, layer);
        }

        x = _transformer.FinalNorm.Forward(x).to_type(DType);
        cache?.Commit(time, batch, padding, realCounts);
        return (single ? x.squeeze(0) : x).MoveToOuterDisposeScope();
    }

    private void ValidateIds(Tensor ids, string paramName)
    {
        if (ids.dim() != 2 || ids.shape[1] == 0 || ids.shape[0] == 0)
        {
            throw new ArgumentException($"inputIds must have shape [T] or [B, T] with T ≥ 1, but has shape [{string.Join(", ", ids.shape)}].", paramName);
        }

        if (ids.is_floating_point() || ids.dtype == ScalarType.Bool)
        {
            throw new ArgumentException($"inputIds must have an integer dtype, but has {ids.dtype}.", paramName);
        }

        long min = ids.min().item<long>(), max = ids.max().item<long>();
        if (min < 0 || max >= Config.VocabularySize)
        {
            throw new ArgumentOutOfRangeException(paramName, $"Token ids must be in [0, {Config.VocabularySize}), but range over [{min}, {max}].");
        }
    }
}
