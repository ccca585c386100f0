using LmHead.Extensions.Decoding.Cpu;
using LmHead.Extensions.Decoding.Grammar;
using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.Decoding;

/// <summary>
/// The LM head's decision procedure: logits → stages (temperature, top-k, ...) → softmax → one token per row.
/// Build one with <see cref="DecodingPipelineBuilder"/>. Every intermediate tensor lives in a dispose scope, so a call
/// leaves no tensor behind; results come back as managed values.
/// </summary>
/// <remarks>
/// Greedy decoding: when a stage is a <see cref="TemperatureScaler"/> with T = 0, the pipeline takes the argmax of the
/// processed logits (the first maximum on ties) instead of sampling, and no random number is consumed.
/// <para>
/// Fast path: the pipeline's <see cref="Options"/> choose it. Every built-in stage (logit bias, the penalties,
/// temperature, top-k, top-p, min-p, greedy) runs there when the logits are a float32, float16 or bfloat16 tensor in
/// CPU memory (half-precision rows are widened once into a pooled float32 buffer):
/// <see cref="NextToken"/> and <see cref="NextTokens"/> then run a managed SIMD sampler on the tensor's memory (bias and
/// penalties on the touched ids of a copy of the row, top-k by a threshold scan, top-p and min-p on the k survivors or,
/// without a top-k, on the window of tokens near the maximum that can reach their threshold, softmax over what is
/// left, one inverse-CDF draw; rows of a batch in parallel). It draws the same uniforms in the same order and applies
/// the same rules, so it returns the same tokens and candidates as the tensor path (up to float rounding at a
/// boundary). A pipeline composed by hand (no options), other dtypes and other devices stay on the tensor path;
/// nothing is copied to the CPU. <see cref="NextToken"/> and <see cref="NextTokens"/> decide on float16 and bfloat16
/// logits in float32 on both paths (the widening is exact; the stages then round once in float32 rather than at every
/// half-precision step); <see cref="Process"/> and <see cref="ComputeProbabilities"/> keep the input's dtype.
/// </para>
/// </remarks>
public sealed class DecodingPipeline
{
    private readonly ILogitsStage[] _stages;
    private readonly ILogitsStage[] _runOrder;
    private readonly SoftmaxNormalizer _softmax = new();
    private readonly MultinomialSampler _sampler;

    private readonly CpuSamplingPlan? _cpuPlan;

    /// <summary>The CPU fast path's plan, or <see langword="null"/> when the pipeline always uses the tensors.</summary>
    internal CpuSamplingPlan? CpuPlan => _cpuPlan;

    internal DecodingPipeline(ILogitsStage[] stages, DecodingOptions? options, ulong? seed, int candidateCount, bool drawsKeyedByStep = false)
    {
        _stages = stages;
        Seed = seed;
        DrawsKeyedByStep = drawsKeyedByStep && seed is not null;
        Options = options;
        _runOrder = TopKBeforeTemperature(stages);
        _cpuPlan = options is null ? null : CpuSamplingPlan.Create(options);
        _sampler = new MultinomialSampler(seed: seed);
        CandidateCount = candidateCount;
        IsGreedy = options?.IsGreedy ?? stages.OfType<TemperatureScaler>().Any(s => s.IsGreedy);

        // A grammar constraint first in a pipeline built from options is applied to the row before the fast sampler.
        Constraint = stages.OfType<GrammarConstraint>().FirstOrDefault();
    }

    /// <summary>The grammar constraint among the stages, or <see langword="null"/>.</summary>
    public GrammarConstraint? Constraint { get; }

    /// <summary>
    /// This pipeline with <paramref name="constraint"/> run first: the same options, seed and fast path, with the
    /// grammar's mask applied to each row before the other stages (a masked token stays at -infinity through every
    /// built-in stage, so first is the same as anywhere).
    /// </summary>
    /// <param name="constraint">The request's constraint.</param>
    /// <returns>A new pipeline.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="constraint"/> is null.</exception>
    /// <exception cref="InvalidOperationException">The pipeline already has a constraint.</exception>
    public DecodingPipeline WithConstraint(GrammarConstraint constraint)
    {
        ArgumentNullException.ThrowIfNull(constraint);
        if (Constraint is not null)
        {
            throw new InvalidOperationException("The pipeline already has a grammar constraint; a pipeline takes one.");
        }

        return new DecodingPipeline([constraint, .. _stages], Options, Seed, CandidateCount, DrawsKeyedByStep);
    }

    /// <summary>Builds the pipeline that <paramref name="options"/> describe, in the library's stage order.</summary>
    /// <param name="options">The decoding options (validated when they were made).</param>
    /// <param name="candidateCount">How many top candidates each result reports, 0 or more.</param>
    /// <returns>A new pipeline that keeps <paramref name="options"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="candidateCount"/> is negative.</exception>
    public static DecodingPipeline Create(DecodingOptions options, int candidateCount = DecodingDefaults.CandidateCount)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (candidateCount < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(candidateCount), candidateCount, $"candidateCount must be 0 or more, but was {candidateCount}.");
        }

        return new DecodingPipeline(options.CreateStages(), options, options.Seed, candidateCount);
    }

    /// <summary>
    /// The options this pipeline was built from, or <see langword="null"/> when it was composed by hand with a custom
    /// stage or an order the options cannot describe. The CPU fast path is chosen from them.
    /// </summary>
    public DecodingOptions? Options { get; }

    /// <summary>The seed of the pipeline's own sampler, or <see langword="null"/> when it was not seeded.</summary>
    public ulong? Seed { get; }

    /// <summary>
    /// Whether a generation draws step t from <see cref="SamplingRandom.ForStream"/>(<see cref="Seed"/>, t) instead of
    /// one sequential stream: the scheme of ML.NET's <c>SampleNextToken</c> with the step index as the stream key, so a
    /// chain served for generation draws exactly what it draws row by row. Set by
    /// <see cref="DecodingPipelineBuilder.UseStepKeyedSeed"/>.
    /// </summary>
    public bool DrawsKeyedByStep { get; }

    /// <summary>The stages, in the order they run.</summary>
    public IReadOnlyList<ILogitsStage> Stages => _stages;

    /// <summary>Whether the pipeline picks the argmax instead of sampling (temperature 0).</summary>
    public bool IsGreedy { get; }

    /// <summary>How many top candidates each result reports.</summary>
    public int CandidateCount { get; }

    /// <summary>Whether a stage depends on the tokens seen so far (a penalty), so callers should pass a <see cref="TokenHistory"/>.</summary>
    public bool UsesHistory => _stages.Any(s => s is ITokenHistoryStage);

    /// <summary>Runs the stages only (a top-k directly after a temperature runs first: they commute, and it then ranks the logits themselves).</summary>
    /// <param name="logits">Logits <c>[V]</c> or <c>[B, V]</c>.</param>
    /// <param name="history">The tokens seen so far, for penalty stages; <see langword="null"/> means none.</param>
    /// <returns>The processed logits; the caller owns the tensor.</returns>
    /// <exception cref="ArgumentException">The logits have the wrong rank or dtype, or hold NaN or +infinity.</exception>
    public Tensor Process(Tensor logits, TokenHistory? history = null)
    {
        LogitsGuard.RequireRows(logits, nameof(logits));
        LogitsGuard.RequireNoNaNOrPositiveInfinity(logits, nameof(logits));
        using var scope = NewDisposeScope();
        var current = logits.alias();
        foreach (var stage in _runOrder)
        {
            current = stage is ITokenHistoryStage historyStage
                ? historyStage.Apply(current, history ?? TokenHistory.Empty)
                : stage.Apply(current);
        }

        return current.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The stages in the order they run: a temperature (T &gt; 0) directly followed by a top-k runs after it instead. The
    /// two commute exactly, but top-k then ranks the logits themselves rather than <c>x / T</c>, which in float16 or
    /// bfloat16 (or float32 with a huge T) can round or underflow distinct logits into ties that the lower id would win.
    /// </summary>
    private static ILogitsStage[] TopKBeforeTemperature(ILogitsStage[] stages)
    {
        var order = (ILogitsStage[])stages.Clone();
        for (int i = 0; i + 1 < order.Length; i++)
        {
            if (order[i] is TemperatureScaler { IsGreedy: false } && order[i + 1] is TopKFilter)
            {
                (order[i], order[i + 1]) = (order[i + 1], order[i]);
                i++;
            }
        }

        return order;
    }

    /// <summary>Runs the stages and the softmax.</summary>
    /// <param name="logits">Logits <c>[V]</c> or <c>[B, V]</c>.</param>
    /// <param name="history">The tokens seen so far, for penalty stages; <see langword="null"/> means none.</param>
    /// <returns>Probabilities with the input's shape; the caller owns the tensor.</returns>
    /// <exception cref="ArgumentException">The logits are invalid, or the stages removed every token of a row.</exception>
    public Tensor ComputeProbabilities(Tensor logits, TokenHistory? history = null)
    {
        using var scope = NewDisposeScope();
        return _softmax.Normalize(Process(logits, history)).MoveToOuterDisposeScope();
    }

    /// <summary>Chooses the next token for one row of logits.</summary>
    /// <param name="logits">Logits <c>[V]</c>.</param>
    /// <param name="random">The generator to draw from, or <see langword="null"/> for the pipeline's own (seeded by <see cref="DecodingPipelineBuilder.UseSeed"/>).</param>
    /// <param name="history">The tokens seen so far, for penalty stages; <see langword="null"/> means none.</param>
    /// <returns>The chosen token, its probability and the top candidates.</returns>
    /// <exception cref="ArgumentException">The logits are not a single row, are invalid, or every token was removed.</exception>
    public NextTokenResult NextToken(Tensor logits, SamplingRandom? random = null, TokenHistory? history = null) =>
        NextTokenCore(logits, random, history, null);

    /// <summary>
    /// <see cref="NextToken"/>, and the chosen token's log-probability under the processed distribution with the
    /// <see cref="LogProbabilityRequest.Top"/> most likely tokens (and their raw log-probabilities when asked), in
    /// <see cref="NextTokenResult.LogProbabilities"/>. The fast path computes them from the row it sampled; the tensor path
    /// takes <c>log_softmax</c> of <see cref="Process"/>'s output. Tokens a filter removed are not listed.
    /// </summary>
    internal NextTokenResult NextTokenWithLogProbabilities(Tensor logits, SamplingRandom? random, TokenHistory? history, LogProbabilityRequest request)
    {
        var next = NextTokenCore(logits, random, history, request);
        next.LogProbabilities ??= LogProbabilitiesWithTensors(logits, history, next.TokenId, request);
        return next;
    }

    private NextTokenResult NextTokenCore(Tensor logits, SamplingRandom? random, TokenHistory? history, LogProbabilityRequest? request)
    {
        ArgumentNullException.ThrowIfNull(logits);
        if (TryNextTokenOnCpu(logits, random, history, request) is { } single)
        {
            return single;
        }

        if (logits.dim() != 1)
        {
            throw new ArgumentException($"logits must be a single row [V] here (use NextTokens for a batch), but has shape [{string.Join(", ", logits.shape)}].", nameof(logits));
        }

        // The fast path above applies to every row the batch fast path would take; what reaches here uses the tensors.
        LogitsGuard.RequireRows(logits, nameof(logits));
        using var row = logits.unsqueeze(0);
        return NextTokensWithTensors(row, random, history)[0];
    }

    /// <summary>The log-probabilities of one row <c>[V]</c> on the tensor path: <c>log_softmax</c> of the processed (and raw) logits.</summary>
    private LogProbabilityReport LogProbabilitiesWithTensors(Tensor logits, TokenHistory? history, int chosen, LogProbabilityRequest request)
    {
        using var scope = NewDisposeScope();
        logits = SamplingRows(logits);
        var processed = Process(logits, history).log_softmax(-1).to_type(ScalarType.Float32);
        var raw = request.IncludeRaw ? logits.log_softmax(-1).to_type(ScalarType.Float32) : null;
        ScoredToken Score(int id, float logProbability) => new(id, logProbability, raw is null ? null : raw[id].item<float>());
        var top = new List<ScoredToken>();
        int count = (int)Math.Min(request.Top, processed.shape[0]);
        if (count > 0)
        {
            var (values, indexes) = processed.topk(count);
            float[] topValues = values.data<float>().ToArray();
            long[] topIds = indexes.data<long>().ToArray();
            for (int i = 0; i < count; i++)
            {
                if (!float.IsNegativeInfinity(topValues[i]))
                {
                    top.Add(Score((int)topIds[i], topValues[i]));
                }
            }
        }

        return new LogProbabilityReport(Score(chosen, processed[chosen].item<float>()), top);
    }

    /// <summary>Chooses the next token for every row of a batch.</summary>
    /// <param name="logits">Logits <c>[B, V]</c> (or <c>[V]</c>, treated as one row).</param>
    /// <param name="random">The generator to draw from, or <see langword="null"/> for the pipeline's own.</param>
    /// <param name="history">The tokens seen so far, for penalty stages (the same for every row); <see langword="null"/> means none.</param>
    /// <returns>One result per row, in row order.</returns>
    /// <exception cref="ArgumentException">The logits are invalid, or every token of a row was removed.</exception>
    public IReadOnlyList<NextTokenResult> NextTokens(Tensor logits, SamplingRandom? random = null, TokenHistory? history = null)
    {
        LogitsGuard.RequireRows(logits, nameof(logits));
        return TryNextTokensOnCpu(logits, random, history) ?? NextTokensWithTensors(logits, random, history);
    }

    /// <summary>The managed CPU fast path, or <see langword="null"/> when it does not apply or a row is invalid (the tensor path then reports it).</summary>
    private NextTokenResult[]? TryNextTokensOnCpu(Tensor logits, SamplingRandom? random, TokenHistory? history)
    {
        if (!UseCpuFastPath || _cpuPlan is null || Constraint is not null || !CpuBatchSampler.Supports(logits))
        {
            return null;
        }

        int rows = logits.dim() == 1 ? 1 : checked((int)logits.size(0));
        double[] uniforms = _cpuPlan.IsGreedy ? [] : _sampler.DrawUniforms(rows, random);
        return CpuBatchSampler.Sample(logits, _cpuPlan, CandidateCount, uniforms, history);
    }

    /// <summary>
    /// The fast path for one row: a float32 CPU tensor <c>[V]</c> with V &gt; 0 passes every check of the general path,
    /// so only the device, dtype and shape are read (once each). <see langword="null"/> when it does not apply or the row
    /// is invalid; the general path then checks and reports (the uniform drawn here is consumed either way, as before).
    /// </summary>
    private NextTokenResult? TryNextTokenOnCpu(Tensor logits, SamplingRandom? random, TokenHistory? history, LogProbabilityRequest? request)
    {
        if (!UseCpuFastPath || _cpuPlan is not { } plan)
        {
            return null;
        }

        TorchSharpRuntime.EnsureAvailable();
        if (logits.device_type != DeviceType.CPU || !CpuBatchSampler.SupportsType(logits.dtype))
        {
            return null;
        }

        // dim() and size(0) are single native calls; TorchSharp's shape property costs about 0.8 us (a tenth of a step).
        if (logits.dim() != 1 || logits.size(0) == 0)
        {
            return null;
        }

        double u = plan.IsGreedy ? 0 : _sampler.DrawUniform(random);

        // One cached sampler (its heaps and scratch) serves single-row calls; a concurrent call builds its own.
        var sampler = Interlocked.Exchange(ref _rowSampler, null) ?? new CpuRowSampler(plan, CandidateCount);
        var result = Constraint is null ? CpuBatchSampler.SampleRow(logits, sampler, u, history, request) : SampleConstrainedRow(logits, sampler, u, history, request);
        _rowSampler = sampler;
        return result;
    }

    private CpuRowSampler? _rowSampler;

    /// <summary>The fast path under a grammar: the row is copied, masked in managed memory, then sampled (never the caller's tensor).</summary>
    private NextTokenResult? SampleConstrainedRow(Tensor logits, CpuRowSampler sampler, double u, TokenHistory? history, LogProbabilityRequest? request)
    {
        using var contiguous = logits.is_contiguous() ? null : logits.contiguous();
        var row = CpuBatchSampler.RowInBuffer(contiguous ?? logits, sampler);
        Constraint!.MaskRow(row, history ?? TokenHistory.Empty);
        return sampler.Sample(row, u, history, request);
    }

    /// <summary>
    /// The logits the sampling methods decide on: float16 and bfloat16 widened to float32 (exactly), so the stages round
    /// once in float32 instead of at every half-precision step, as the CPU fast path computes; other dtypes unchanged.
    /// </summary>
    private static Tensor SamplingRows(Tensor logits) => HalfRows.IsHalf(logits.dtype) ? logits.to_type(ScalarType.Float32) : logits;

    /// <summary>Whether <see cref="NextTokens"/> may use the managed CPU sampler; tests and benchmarks turn it off to compare paths.</summary>
    internal bool UseCpuFastPath { get; set; } = true;

    private NextTokenResult[] NextTokensWithTensors(Tensor logits, SamplingRandom? random, TokenHistory? history)
    {
        using var scope = NewDisposeScope();
        var raw = SamplingRows(logits.dim() == 1 ? logits.unsqueeze(0) : logits);
        var processed = Process(raw, history);
        var probabilities = _softmax.Normalize(processed);

        Tensor ids;
        if (IsGreedy)
        {
            ids = processed.argmax(-1, keepdim: true);
        }
        else
        {
            using var samples = random is null ? _sampler.Sample(probabilities) : _sampler.Sample(probabilities, random);
            ids = samples.Ids.clone();
        }

        long[] chosen = ids.cpu().data<long>().ToArray();
        float[] chosenProbability = probabilities.gather(-1, ids).to_type(ScalarType.Float32).cpu().data<float>().ToArray();

        int batch = (int)raw.shape[0];
        int count = (int)Math.Min(CandidateCount, raw.shape[1]);
        long[] candidateIds = [];
        float[] rawValues = [], processedValues = [], probabilityValues = [];
        if (count > 0)
        {
            var top = raw.topk(count, dim: -1);
            candidateIds = top.indexes.cpu().data<long>().ToArray();
            rawValues = top.values.to_type(ScalarType.Float32).cpu().data<float>().ToArray();
            processedValues = processed.gather(-1, top.indexes).to_type(ScalarType.Float32).cpu().data<float>().ToArray();
            probabilityValues = probabilities.gather(-1, top.indexes).to_type(ScalarType.Float32).cpu().data<float>().ToArray();
        }

        var results = new NextTokenResult[batch];
        for (int row = 0; row < batch; row++)
        {
            var candidates = new TokenCandidate[count];
            for (int c = 0; c < count; c++)
            {
                int at = row * count + c;
                candidates[c] = new TokenCandidate((int)candidateIds[at], rawValues[at], processedValues[at], probabilityValues[at]);
            }

            results[row] = new NextTokenResult((int)chosen[row], chosenProbability[row], candidates);
        }

        return results;
    }
}
