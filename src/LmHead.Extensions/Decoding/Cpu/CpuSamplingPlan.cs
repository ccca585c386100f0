namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// What a pipeline's <see cref="DecodingOptions"/> amount to for the managed CPU sampler: every built-in stage (logit
/// bias, the repetition / frequency / presence penalties, temperature, top-k, top-p, min-p, greedy), with the
/// parameters it needs to reproduce the tensor path exactly.
/// </summary>
internal sealed class CpuSamplingPlan
{
    private CpuSamplingPlan(DecodingOptions options)
    {
        IsGreedy = options.IsGreedy;
        Temperature = IsGreedy ? 1f : options.Temperature;
        TopK = IsGreedy ? int.MaxValue : options.TopK ?? int.MaxValue;
        TopP = !IsGreedy && options.HasTopP ? options.TopP!.Value : 1f;
        MinP = !IsGreedy && options.HasMinP ? options.MinP!.Value : 0f;
        LogitBias = [.. options.LogitBias.OrderBy(pair => pair.Key)];
        RepetitionPenalty = options.HasRepetitionPenalty ? options.RepetitionPenalty!.Value : 1f;
        FrequencyPenalty = options.FrequencyPenalty;
        PresencePenalty = options.PresencePenalty;
        PenaltyWindow = options.PenaltyWindow;
    }

    /// <summary>The temperature T (1 when the pipeline has none; unused when greedy).</summary>
    public float Temperature { get; }

    /// <summary>The top-k (<see cref="int.MaxValue"/> when the pipeline has none).</summary>
    public int TopK { get; }

    /// <summary>Whether the pipeline is greedy (T = 0): the first maximum of the row after bias and penalties wins.</summary>
    public bool IsGreedy { get; }

    /// <summary>The top-p mass (1 when off).</summary>
    public float TopP { get; }

    /// <summary>The min-p threshold applied after top-p (0 when off).</summary>
    public float MinP { get; }

    /// <summary>The logit bias, by ascending token id (empty when off).</summary>
    public KeyValuePair<int, float>[] LogitBias { get; }

    /// <summary>The repetition penalty (1 when off).</summary>
    public float RepetitionPenalty { get; }

    /// <summary>The frequency penalty (0 when off).</summary>
    public float FrequencyPenalty { get; }

    /// <summary>The presence penalty (0 when off).</summary>
    public float PresencePenalty { get; }

    /// <summary>How many recent tokens the penalties read, or <see langword="null"/> for all.</summary>
    public int? PenaltyWindow { get; }

    /// <summary>Whether a penalty reads the token history.</summary>
    public bool UsesHistory => RepetitionPenalty != 1f || FrequencyPenalty != 0f || PresencePenalty != 0f;

    /// <summary>Whether the bias or a penalty may change some logits before the temperature.</summary>
    public bool ChangesLogits => LogitBias.Length > 0 || UsesHistory;

    /// <summary>Whether top-p or min-p filters the tokens that top-k (if any) kept.</summary>
    public bool FiltersSurvivors => TopP < 1f || MinP > 0f;

    /// <summary>Returns the plan for <paramref name="options"/>.</summary>
    /// <param name="options">The pipeline's options.</param>
    public static CpuSamplingPlan Create(DecodingOptions options) => new(options);
}
