namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// What a pipeline's stages amount to when they are only a temperature and a top-k (at most one of each, in either
/// order): the parameters the managed CPU sampler needs to reproduce the tensor path exactly.
/// </summary>
internal sealed class CpuSamplingPlan
{
    private CpuSamplingPlan(float temperature, int topK, bool scaleBeforeTopK, bool isGreedy)
    {
        Temperature = temperature;
        TopK = topK;
        ScaleBeforeTopK = scaleBeforeTopK;
        IsGreedy = isGreedy;
    }

    /// <summary>The temperature T (1 when the pipeline has none; unused when greedy).</summary>
    public float Temperature { get; }

    /// <summary>The top-k (<see cref="int.MaxValue"/> when the pipeline has none).</summary>
    public int TopK { get; }

    /// <summary>Whether top-k ranks the scaled logits (temperature first) rather than the raw ones; it matters only for ties created by rounding.</summary>
    public bool ScaleBeforeTopK { get; }

    /// <summary>Whether the pipeline is greedy (T = 0): the first maximum of the raw row wins.</summary>
    public bool IsGreedy { get; }

    /// <summary>Returns a plan for the stages, or <see langword="null"/> when a stage is not one the CPU sampler knows.</summary>
    public static CpuSamplingPlan? TryCreate(IReadOnlyList<ILogitsStage> stages)
    {
        TemperatureScaler? temperature = null;
        TopKFilter? topK = null;
        foreach (var stage in stages)
        {
            switch (stage)
            {
                case TemperatureScaler t when temperature is null:
                    temperature = t;
                    break;
                case TopKFilter k when topK is null:
                    topK = k;
                    break;
                default:
                    // Unknown stages, or a second temperature or top-k: the tensor path handles them.
                    return null;
            }
        }

        return new CpuSamplingPlan(
            temperature?.Temperature is { } t1 && t1 != 0f ? t1 : 1f,
            topK?.K ?? int.MaxValue,
            // The tensor path runs a top-k that directly follows a temperature first (DecodingPipeline), so top-k ranks
            // the raw logits in either order (no pipeline selects the sampler's scaled-key ranking any more).
            scaleBeforeTopK: false,
            temperature?.IsGreedy == true);
    }
}
