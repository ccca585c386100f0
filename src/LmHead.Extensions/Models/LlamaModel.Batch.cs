using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <content>Ragged batched steps for continuous batching.</content>
public sealed partial class LlamaModel
{
    /// <inheritdoc />
    /// <remarks>Each sequence runs its own forward pass over its own cache; a sequence's result does not depend on the others in the call.</remarks>
    public override Tensor ComputeLastHiddenStates(IReadOnlyList<KvCache> caches, IReadOnlyList<int[]> newTokens)
    {
        ArgumentNullException.ThrowIfNull(caches);
        ArgumentNullException.ThrowIfNull(newTokens);
        var own = ValidateBatch(caches, newTokens, cache => OwnCache(cache, nameof(caches))!, $"this model supports at most {ContextLength}");
        using var use = EnterUse();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var output = empty([own.Length, Config.HiddenSize], DType, Device);
        var step = DecodeStep;
        int[] decoding = step is null ? [] : [.. Enumerable.Range(0, own.Length).Where(i => newTokens[i].Length == 1)];
        if (decoding.Length > 0)
        {
            var decoded = empty([decoding.Length, Config.HiddenSize], ScalarType.Float32, Device);
            RunDecodeStep(step!, [.. decoding.Select(i => new LlamaDecodeStep.Sequence(own[i], 0, newTokens[i][0]))], decoded);
            output.index_copy_(0, tensor(decoding.Select(i => (long)i).ToArray(), device: Device), decoded.to_type(DType));
        }

        for (int i = 0; i < own.Length; i++)
        {
            if (step is not null && newTokens[i].Length == 1)
            {
                continue;
            }

            var ids = tensor(newTokens[i], ScalarType.Int64).to(Device);
            var hidden = ForwardHidden(ids, own[i], null, nameof(caches));
            output[i].copy_(hidden[hidden.shape[0] - 1]);
        }

        return output.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Whether cached one-token steps take the managed decode step (<see langword="true"/>, the default, where the model
    /// supports it) or libtorch; tests compare the two.
    /// </summary>
    internal bool UseManagedDecodeStep { get; set; } = true;

    private LlamaDecodeStep? DecodeStep => UseManagedDecodeStep ? _decodeStep.Value : null;

    /// <summary>Runs the managed step (one new token per sequence) into <paramref name="output"/> <c>[N, d]</c> float32, and commits the caches.</summary>
    private static unsafe void RunDecodeStep(LlamaDecodeStep step, LlamaDecodeStep.Sequence[] sequences, Tensor output)
    {
        var caches = sequences.Select(s => s.Cache).Distinct(ReferenceEqualityComparer.Instance).Cast<LlamaKvCache>().ToArray();
        int RowsOf(LlamaKvCache cache) => cache.BatchSize ?? sequences.Count(s => ReferenceEquals(s.Cache, cache));
        foreach (var cache in caches)
        {
            cache.Reserve(RowsOf(cache), cache.Length + 1);
        }

        step.Run(sequences, (float*)Gpt2DecodeStep.Address(output));
        foreach (var cache in caches)
        {
            int batch = RowsOf(cache);
            long[] before = cache.RealCounts ?? new long[batch];
            using var padding = cache.Padding is { } past ? cat([past, zeros(batch, 1, ScalarType.Bool, past.device)], 1) : null;
            cache.Commit(1, batch, padding, [.. before.Select(c => c + 1)]);
        }
    }
}
