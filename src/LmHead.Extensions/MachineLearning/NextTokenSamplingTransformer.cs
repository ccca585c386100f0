using LmHead.Extensions.Decoding;
using static TorchSharp.torch;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// Adds the sampled next token (<c>UInt32</c> token id) and its probability (<c>Single</c>), drawn from a probabilities
/// column with a <see cref="MultinomialSampler"/>.
/// </summary>
/// <remarks>
/// Each row draws from its own generator, <see cref="SamplingRandom.ForStream"/> of the seed and the row id, so a row
/// gets the same token whether the data is read sequentially, by a parallel cursor set, or again later.
/// </remarks>
public sealed class NextTokenSamplingTransformer : LmHeadTransformer
{
    private readonly MultinomialSampler _sampler = new(sampleCount: 1, seed: 0);

    internal NextTokenSamplingTransformer(string tokenColumnName, string probabilityColumnName, string inputColumnName, int inputSize, ulong seed)
        : base(inputColumnName, inputSize)
    {
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

    /// <summary>The seed; with the row id it fixes each row's draw.</summary>
    public ulong Seed { get; }

    internal override string StageName => "SampleNextToken";

    internal override IReadOnlyList<StageOutputColumn> OutputColumns { get; }

    internal override void Compute(float[] input, ulong rowKey, StageRowValues output)
    {
        using var scope = NewDisposeScope();
        using var samples = _sampler.Sample(tensor(input), SamplingRandom.ForStream(Seed, rowKey));
        output.TokenId = checked((uint)samples.Ids[0].item<long>());
        output.Probability = samples.Probabilities[0].to_type(ScalarType.Float32).item<float>();
    }

    /// <summary>The seed as four exact 16-bit pieces (a float holds any 16-bit integer exactly).</summary>
    internal override float[] SavedParameters() =>
        [Seed & 0xFFFF, (Seed >> 16) & 0xFFFF, (Seed >> 32) & 0xFFFF, Seed >> 48];
}
