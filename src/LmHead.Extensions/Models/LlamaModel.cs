using LmHead.Extensions.Decoding;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// A Llama-family decoder (Hugging Face <c>LlamaForCausalLM</c>, <c>Qwen2ForCausalLM</c>, <c>MistralForCausalLM</c>) in
/// TorchSharp, for inference: token embeddings, pre-RMSNorm layers of grouped-query attention with rotary embeddings
/// (optionally Llama 3 or linear <c>rope_scaling</c>; q/k/v biases for Qwen2) and a SwiGLU MLP, a final RMSNorm, and an
/// <c>lm_head</c> tied to <c>embed_tokens</c> or not. Parameter names are Hugging Face's
/// (<c>model.layers.0.self_attn.q_proj.weight</c>, ...). Load a checkpoint with <see cref="PretrainedModel.Load"/> or
/// <see cref="LlamaPretrained"/>.
/// </summary>
/// <remarks>
/// Weights stay in their dtype (float32, float16 or bfloat16). On the CPU, activations, the key/value cache and every
/// matrix product are float32 whatever the weights (libtorch's half-precision CPU kernels are slow, and float32 keeps the
/// result close to the float64 definition); each half-precision weight is widened for its call only. Positions count
/// real tokens only, so a left-padded row of a batch matches its unpadded run.
/// </remarks>
public sealed partial class LlamaModel : CausalLanguageModel
{
    private readonly LlamaDecoder _decoder;
    private readonly LlamaLinear? _lmHead;
    private readonly LlamaRotaryEmbedding _rotary;
    private readonly Lazy<LlamaDecodeStep?> _decodeStep;

    /// <summary>Creates a model with the configuration's shapes; weights are zeros (norm weights ones) until loaded.</summary>
    /// <param name="config">The hyper-parameters.</param>
    /// <param name="dtype">The dtype of every parameter (Float32, Float16, BFloat16 or Float64).</param>
    /// <param name="device">The device, or <see langword="null"/> for the CPU.</param>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentException">The configuration is invalid or <paramref name="dtype"/> is not floating point.</exception>
    public LlamaModel(LlamaConfig config, ScalarType dtype = ScalarType.Float32, Device? device = null)
        : this(config, dtype, device, initialise: true)
    {
    }

    /// <summary>Creates a model; with <paramref name="initialise"/> false the parameters are uninitialised memory, for a
    /// loader that overwrites every one of them (zero-filling 1 GB first cost more than reading the file).</summary>
    internal LlamaModel(LlamaConfig config, ScalarType dtype, Device? device, bool initialise)
        : base(TorchSharpRuntime.Checked("LlamaForCausalLM"), "Llama-family")
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        if (dtype is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64))
        {
            throw new ArgumentException($"dtype must be Float32, Float16, BFloat16 or Float64, but is {dtype}.", nameof(dtype));
        }

        Config = config;
        DType = dtype;
        device ??= CPU;
        _decoder = new LlamaDecoder("model", config, dtype, device, initialise);
        register_module("model", _decoder);
        if (!config.TieWordEmbeddings)
        {
            _lmHead = new LlamaLinear("lm_head", config.VocabularySize, config.HiddenSize, false, dtype, device, initialise);
            register_module("lm_head", _lmHead);
        }

        _rotary = new LlamaRotaryEmbedding(config);
        ActivationDType = dtype is ScalarType.Float16 or ScalarType.BFloat16 && device.type == DeviceType.CPU ? ScalarType.Float32 : dtype;
        _decodeStep = new(() => LlamaDecodeStep.TryCreate(this));
    }

    /// <summary>The hyper-parameters.</summary>
    public LlamaConfig Config { get; }

    /// <inheritdoc />
    public override ScalarType DType { get; }

    /// <summary>The dtype of activations and of the key/value cache: float32 for half-precision weights on the CPU, else <see cref="DType"/>.</summary>
    public ScalarType ActivationDType { get; }

    /// <inheritdoc />
    public override Device Device => _decoder.Embedding.Weight.device;

    /// <inheritdoc />
    public override int VocabularySize => Config.VocabularySize;

    /// <summary>The most positions one sequence may hold: <c>max_position_embeddings</c>, or the sliding window if smaller.</summary>
    public override int ContextLength => Config.ContextLength;

    /// <inheritdoc />
    public override int? BosTokenId => Config.BosTokenId;

    /// <inheritdoc />
    public override IReadOnlyList<int> EosTokenIds => Config.EosTokenIds;

    /// <inheritdoc />
    public override int HiddenSize => Config.HiddenSize;

    /// <inheritdoc />
    public override int LayerCount => Config.LayerCount;

    internal LlamaDecoder Decoder => _decoder;

    /// <summary>The head's matrix: <c>lm_head.weight</c>, or <c>embed_tokens.weight</c> when tied.</summary>
    internal Parameter HeadWeight => (_lmHead ?? _decoder.Embedding).Weight;

    /// <summary>Creates an empty key/value cache for incremental decoding with this model.</summary>
    /// <returns>A cache the caller disposes.</returns>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public override LlamaKvCache CreateKvCache()
    {
        using var use = EnterUse();
        return new(Config, ActivationDType, Device);
    }

    /// <inheritdoc />
    public override LogitsProjector GetOutputEmbeddings()
    {
        using var use = EnterUse();
        return new(HeadWeight);
    }

    /// <summary>Computes logits for every input position.</summary>
    /// <param name="inputIds">Token ids <c>[T]</c> or <c>[B, T]</c> (integer dtype).</param>
    /// <param name="cache">A <see cref="LlamaKvCache"/> of this model holding the earlier positions, extended by this call; or <see langword="null"/>.</param>
    /// <param name="attentionMask">For left-padded batches, <c>[B, T]</c> with 1 for real tokens and 0 for padding; or <see langword="null"/>.</param>
    /// <returns>Logits <c>[T, V]</c> or <c>[B, T, V]</c> in <see cref="ActivationDType"/> (the last hidden states are not rounded to half precision first); the caller owns the tensor.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="inputIds"/> is null.</exception>
    /// <exception cref="ArgumentException">The ids, mask or cache do not fit, or the sequence would exceed <see cref="ContextLength"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is outside the vocabulary.</exception>
    /// <exception cref="ObjectDisposedException">The cache or the model was disposed.</exception>
    public override Tensor ComputeLogits(Tensor inputIds, KvCache? cache = null, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        var hidden = ForwardHidden(inputIds, cache, attentionMask, nameof(cache));
        using var use = EnterUse();
        using var noGrad = no_grad();
        return (_lmHead ?? _decoder.Embedding).Forward(hidden).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override Tensor ComputeHiddenStates(Tensor inputIds, KvCache? cache = null, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        return ForwardHidden(inputIds, cache, attentionMask, nameof(cache)).to_type(DType).MoveToOuterDisposeScope();
    }

    /// <summary>The last hidden states in <see cref="ActivationDType"/>, with every check of <see cref="ComputeHiddenStates"/>.</summary>
    private Tensor ForwardHidden(Tensor inputIds, KvCache? cache, Tensor? attentionMask, string cacheParamName)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        var own = OwnCache(cache, cacheParamName);
        own?.ThrowIfDisposed();
        using var use = EnterUse();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        bool single = inputIds.dim() == 1;
        var ids = single ? inputIds.unsqueeze(0) : inputIds;
        ValidateIds(ids, nameof(inputIds));
        ids = ids.to(ScalarType.Int64, Device);
        int batch = (int)ids.shape[0], time = (int)ids.shape[1];
        int past = own?.Length ?? 0;
        if (own?.BatchSize is { } cachedBatch && cachedBatch != batch)
        {
            throw new ArgumentException($"The cache holds a batch of {cachedBatch} sequences but inputIds has {batch} rows.", cacheParamName);
        }

        if (past + time > ContextLength)
        {
            throw new ArgumentException(
                $"The sequence would be {past + time} positions long ({past} cached + {time} new), but this model supports at most {ContextLength} (max_position_embeddings, or sliding_window if smaller).",
                nameof(inputIds));
        }

        if (own is not null && time == 1 && attentionMask is null && DecodeStep is { } step)
        {
            long[] tokens = ids.contiguous().data<long>().ToArray();
            var decoded = empty([batch, Config.HiddenSize], ScalarType.Float32, Device);
            RunDecodeStep(step, [.. tokens.Select((token, row) => new LlamaDecodeStep.Sequence(own, row, token))], decoded);
            return (single ? decoded : decoded.unsqueeze(1)).MoveToOuterDisposeScope();
        }

        var (positions, padding, realCounts) = KvCache.PositionsAndPadding(batch, time, past, own, attentionMask, Device);
        var hidden = Forward(ids, positions, padding, past, own);
        own?.Commit(time, batch, padding, realCounts);
        return (single ? hidden.squeeze(0) : hidden).MoveToOuterDisposeScope();
    }

    /// <summary>The layers over ids <c>[B, T]</c> at <paramref name="positions"/>; returns the normed hidden states in <see cref="ActivationDType"/>.</summary>
    private Tensor Forward(Tensor ids, Tensor positions, Tensor? padding, int past, KvCache? cache)
    {
        int batch = (int)ids.shape[0], time = (int)ids.shape[1];
        var queryPositions = arange(past, past + time, device: Device).unsqueeze(1);
        var keyPositions = arange(past + time, device: Device).unsqueeze(0);
        var blocked = keyPositions.gt(queryPositions).view(1, 1, time, past + time);
        if (padding is not null)
        {
            blocked = blocked.logical_or(padding.view(batch, 1, 1, past + time));
        }

        long[] flatPositions = positions.cpu().contiguous().data<long>().ToArray();
        var (cos, sin) = _rotary.Tables(flatPositions, batch, time, ActivationDType, Device);
        var x = _decoder.Embedding.Lookup(ids, ActivationDType);
        for (int layer = 0; layer < _decoder.Layers.Count; layer++)
        {
            x = _decoder.Layers[layer].Forward(x, cos, sin, blocked, cache, layer);
        }

        return _decoder.Norm.Forward(x);
    }

    /// <summary>Returns <paramref name="cache"/> as this architecture's cache, or throws naming the cache's type.</summary>
    private static LlamaKvCache? OwnCache(KvCache? cache, string paramName) => cache switch
    {
        null => null,
        LlamaKvCache own => own,
        _ => throw new ArgumentException($"{paramName} is a {cache.GetType().Name}; a Llama-family model needs a LlamaKvCache from its CreateKvCache().", paramName),
    };

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
        if (min < 0 || max >= VocabularySize)
        {
            throw new ArgumentOutOfRangeException(paramName, $"Token ids must be in [0, {VocabularySize}), but range over [{min}, {max}].");
        }
    }
}
