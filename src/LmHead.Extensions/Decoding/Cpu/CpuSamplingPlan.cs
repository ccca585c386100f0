namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// What a pipeline's <see cref="DecodingOptions"/> amount to when they ask only for a temperature, a top-k (optionally
/// followed by top-p and/or min-p) and/or greedy decoding: the parameters the managed CPU sampler needs to reproduce the
/// tensor path exactly.
/// </summary>
internal sealed class CpuSamplingPlan
{
    private CpuSamplingPlan(float temperature, int topK, bool scaleBeforeTopK, bool isGreedy, float topP = 1f, float minP = 0f)
    {
        Temperature = temperature;
        TopK = topK;
        ScaleBeforeTopK = scaleBeforeTopK;
        IsGreedy = isGreedy;
        TopP = topP;
        MinP = minP;
    }

    /// <summary>The temperature T (1 when the pipeline has none; unused when greedy).</summary>
    public float Temperature { get; }

    /// <summary>The top-k (<see cref="int.MaxValue"/> when the pipeline has none).</summary>
    public int TopK { get; }

    /// <summary>Whether top-k ranks the scaled logits (temperature first) rather than the raw ones; it matters only for ties created by rounding.</summary>
    public bool ScaleBeforeTopK { get; }

    /// <summary>Whether the pipeline is greedy (T = 0): the first maximum of the raw row wins.</summary>
    public bool IsGreedy { get; }

    /// <summary>The top-p mass applied to the top-k survivors (1 when off).</summary>
    public float TopP { get; }

    /// <summary>The min-p threshold applied after top-p (0 when off).</summary>
    public float MinP { get; }

    /// <summary>Whether top-p or min-p filters the survivors, so the sampler needs them even when k ≥ V.</summary>
    public bool FiltersSurvivors => TopP < 1f || MinP > 0f;

    /// <summary>
    /// Returns the plan for <paramref name="options"/>, or <see langword="null"/> when they ask for a stage the CPU
    /// sampler does not run (penalties, logit bias, or top-p / min-p without a top-k): the tensor path handles those.
    /// </summary>
    /// <param name="options">The pipeline's options.</param>
    public static CpuSamplingPlan? TryCreate(DecodingOptions options)
    {
        // Top-p and min-p sort the survivors: cheap after a top-k, a sort of the whole row without one (not here yet).
        bool filtersSurvivors = !options.IsGreedy && (options.HasTopP || options.HasMinP);
        if (options.LogitBias.Count > 0 || options.UsesHistory || (filtersSurvivors && options.TopK is null))
        {
            return null;
        }

        // The tensor path runs a top-k that directly follows a temperature first (DecodingPipeline), so top-k ranks the
        // raw logits in either order (no pipeline selects the sampler's scaled-key ranking any more).
        return options.IsGreedy
            ? new CpuSamplingPlan(1f, int.MaxValue, scaleBeforeTopK: false, isGreedy: true)
            : new CpuSamplingPlan(
                options.Temperature,
                options.TopK ?? int.MaxValue,
                scaleBeforeTopK: false,
                isGreedy: false,
                topP: options.HasTopP ? options.TopP!.Value : 1f,
                minP: options.HasMinP ? options.MinP!.Value : 0f);
    }
}
