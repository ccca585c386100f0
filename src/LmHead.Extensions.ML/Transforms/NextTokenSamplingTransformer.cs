using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Cpu;
using static TorchSharp.torch;

using Microsoft.ML;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// Adds the sampled next token (<c>UInt32</c> token id) and its probability (<c>Single</c>), drawn from a probabilities
/// column with a <see cref="MultinomialSampler"/>.
/// </summary>
/// <remarks>
/// Each row draws from its own generator, <see cref="SamplingRandom.ForStream"/> of the seed and the row's key (the row
/// id, or the value of <see cref="StreamKeyColumn"/>), so a row gets the same token whether the data is read
/// sequentially, by a parallel cursor set, or again later. A saved model cannot read row ids, so only a sampler with a
/// stream-key column can be saved.
/// </remarks>
public sealed class NextTokenSamplingTransformer : LmHeadTransformer
{
    private static readonly MultinomialSampler Sampler = new(sampleCount: 1, seed: 0);

    internal NextTokenSamplingTransformer(
        string tokenColumnName, string probabilityColumnName, string inputColumnName, int inputSize, ulong seed, string? streamKeyColumnName, bool signedStreamKey)
        : base(inputColumnName, inputSize)
    {
        SignedStreamKey = signedStreamKey;
        StreamKeyColumn = streamKeyColumnName;
        TokenColumnName = tokenColumnName;
        ProbabilityColumnName = probabilityColumnName;
        Seed = seed;
        OutputColumns =
        [
            new StageOutputColumn(tokenColumnName, StageOutputKind.TokenId, 0),
            new StageOutputColumn(probabilityColumnName, StageOutputKind.Probability, 0),
        ];
    }

    /// <summary>The name of the token-id column.</summary>
    public string TokenColumnName { get; }

    /// <summary>The name of the column holding the sampled token's probability.</summary>
    public string ProbabilityColumnName { get; }

    /// <summary>The seed; with the row's key it fixes each row's draw.</summary>
    public ulong Seed { get; }

    /// <summary>The integer column that keys each row's random stream, or <see langword="null"/> to use the row id.</summary>
    public string? StreamKeyColumn { get; }

    internal override string? StreamKeyColumnName => StreamKeyColumn;

    internal override string StageName => "SampleNextToken";

    internal override IReadOnlyList<StageOutputColumn> OutputColumns { get; }

    internal override void Compute(float[] input, ulong rowKey, StageRowValues output) =>
        (output.TokenId, output.Probability) = Sample(input, Seed, rowKey);

    /// <summary>Draws one token for a row (shared with the saved form, so both draw the same).</summary>
    internal static (uint TokenId, float Probability) Sample(float[] probabilities, ulong seed, ulong rowKey)
    {
        if (ManagedRows.TrySampleOne(probabilities, SamplingRandom.ForStream(seed, rowKey), out int id, out float probability))
        {
            return ((uint)id, probability);
        }

        // Invalid weights: the tensor sampler reports them (no uniform was drawn above).
        using var scope = NewDisposeScope();
        using var samples = Sampler.Sample(tensor(probabilities), SamplingRandom.ForStream(seed, rowKey));
        return (checked((uint)samples.Ids[0].item<long>()), samples.Probabilities[0].to_type(ScalarType.Float32).item<float>());
    }

    internal override float[] SavedParameters() => SavedSeed.Encode(Seed);

    internal override IEstimator<ITransformer> CreateSavedMapping(MLContext ml) => SignedStreamKey
        ? ml.Transforms.CustomMapping(new SavedSignedKeySamplerFactory().GetMapping(), SavedContracts.SampleNextTokenSignedKey)
        : ml.Transforms.CustomMapping(new SavedSamplerFactory().GetMapping(), SavedContracts.SampleNextToken);

    /// <summary>Whether the stream-key column was signed (Int64 or Int32) when fitted; the saved form depends on it.</summary>
    internal bool SignedStreamKey { get; }
}
