namespace LmHead.Extensions.Decoding;

/// <summary>
/// Composes the stages of the LM head in order, in the style of Microsoft.Extensions.AI's <c>ChatClientBuilder</c>:
/// <c>new DecodingPipelineBuilder().UseTemperature(0.7f).UseTopK(50).UseSeed(42).Build()</c>.
/// Stages run in the order they are added; softmax and sampling always come last.
/// </summary>
public sealed class DecodingPipelineBuilder
{
    private readonly List<ILogitsStage> _stages = [];
    private ulong? _seed;
    private int _candidateCount = DecodingDefaults.CandidateCount;

    /// <summary>Adds any stage.</summary>
    /// <param name="stage">The stage to run after the ones already added.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="stage"/> is null.</exception>
    public DecodingPipelineBuilder Use(ILogitsStage stage)
    {
        ArgumentNullException.ThrowIfNull(stage);
        _stages.Add(stage);
        return this;
    }

    /// <summary>Adds a <see cref="TemperatureScaler"/>; T = 1 adds nothing, T = 0 makes the pipeline greedy.</summary>
    /// <param name="temperature">T ≥ 0 and finite.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="temperature"/> is negative, NaN or infinite.</exception>
    public DecodingPipelineBuilder UseTemperature(float temperature)
    {
        var stage = new TemperatureScaler(temperature);
        return stage.IsIdentity ? this : Use(stage);
    }

    /// <summary>Adds a <see cref="TopKFilter"/>.</summary>
    /// <param name="k">How many logits to keep per row; at least 1.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="k"/> is not positive.</exception>
    public DecodingPipelineBuilder UseTopK(int k) => Use(new TopKFilter(k));

    /// <summary>Seeds the pipeline's sampler, for reproducible draws.</summary>
    /// <param name="seed">The seed.</param>
    /// <returns>This builder.</returns>
    public DecodingPipelineBuilder UseSeed(ulong seed)
    {
        _seed = seed;
        return this;
    }

    /// <summary>Sets how many top candidates each <see cref="NextTokenResult"/> reports.</summary>
    /// <param name="count">A number from 0 upward.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative.</exception>
    public DecodingPipelineBuilder UseCandidateCount(int count)
    {
        if (count < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"count must be 0 or more, but was {count}.");
        }

        _candidateCount = count;
        return this;
    }

    /// <summary>Builds the pipeline.</summary>
    /// <returns>A pipeline running the stages added so far.</returns>
    public DecodingPipeline Build() => new([.. _stages], _seed, _candidateCount);
}
