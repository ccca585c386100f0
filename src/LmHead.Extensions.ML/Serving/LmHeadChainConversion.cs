using LmHead.Extensions.Decoding;
using LmHead.Extensions.MachineLearning;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace Microsoft.ML;

/// <summary>
/// Turns an ML.NET chain of the LM-head transforms, fitted or loaded with <c>mlContext.Model.Load</c>, into the
/// <see cref="DecodingPipeline"/> that runs the same stages, so the chain can be served (for example with Semantic
/// Kernel's <c>AddLmHeadTextGeneration(modelFolder, chain.ToDecodingPipeline())</c>).
/// </summary>
/// <remarks>
/// <para>The chain must be one path from a logits column to a token: any logits stages (<c>ScaleTemperature</c>,
/// <c>KeepTopK</c>, <c>KeepTopP</c>, <c>KeepMinP</c>, <c>AddLogitBias</c>, the penalties), then
/// <c>NormalizeToProbabilities</c>, then <c>SampleNextToken</c>, each reading the column the previous one wrote. The
/// pipeline runs the logits stages in the chain's order; the softmax is implicit; the sampler's seed becomes
/// <see cref="DecodingPipelineBuilder.UseStepKeyedSeed"/>, so generation step t draws what the chain draws for a row
/// whose stream key is t (whatever key column the chain was fitted with).</para>
/// <para>Not supported, with a <see cref="NotSupportedException"/> naming the stage: <c>ProjectToLogits</c> (a served
/// model projects with its own output embeddings), a chain without <c>SampleNextToken</c> or without
/// <c>NormalizeToProbabilities</c> before it, stages after the sampler, and transforms other than the LM-head ones and
/// <c>DropColumns</c>. Penalties read a history column in ML.NET; in generation the repetition penalty counts the
/// prompt and the output, and the frequency/presence penalties count the output, which is what the catalog asks those
/// columns to hold.</para>
/// </remarks>
public static class LmHeadChainConversion
{
    /// <summary>The decoding pipeline that runs the chain's LM-head stages in order, seeded so that step t draws as a row keyed t.</summary>
    /// <param name="chain">A fitted chain (a <see cref="TransformerChain{TLastTransformer}"/> of LM-head transformers), a single
    /// LM-head transformer, or a chain loaded with <c>mlContext.Model.Load</c>.</param>
    /// <returns>The pipeline; its <see cref="DecodingPipeline.Options"/> are set when the stages are built-in ones in the library's order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="chain"/> is null.</exception>
    /// <exception cref="ArgumentException">A stage does not read the column the previous stage wrote.</exception>
    /// <exception cref="NotSupportedException">The chain holds a stage or transform a decoding pipeline cannot run, or lacks the softmax or sampler.</exception>
    /// <exception cref="InvalidDataException">A loaded chain's saved stage is incomplete.</exception>
    public static DecodingPipeline ToDecodingPipeline(this ITransformer chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        var stages = new List<ChainStage>();
        Collect(chain, stages);
        if (BrokenPath(stages) is { } error)
        {
            throw new ArgumentException(error, nameof(chain));
        }

        return Build(stages);
    }

    private static void Collect(ITransformer transformer, List<ChainStage> stages)
    {
        switch (transformer)
        {
            case LogitsProjectionTransformer:
                throw SavedStageReader.ProjectionNotSupported();
            case LogitsStageTransformer stage:
                stages.Add(new(
                    stage.StageName, stage.Stage is SoftmaxStage ? ChainStageKind.Softmax : ChainStageKind.Logits, stage.Stage,
                    InputColumn: stage.InputColumnName, OutputColumn: stage.OutputColumnName));
                break;
            case NextTokenSamplingTransformer sampler:
                stages.Add(new("SampleNextToken", ChainStageKind.Sampler, null, sampler.Seed, sampler.InputColumnName, sampler.TokenColumnName));
                break;
            case ColumnSelectingTransformer:
                // DropColumns changes no values; a chain that drops a column a later stage reads does not fit.
                break;
            case IEnumerable<ITransformer> nested when SavedStageReader.IsSavedStage(nested):
                stages.Add(SavedStageReader.Read([.. nested]));
                break;
            case IEnumerable<ITransformer> nested:
                foreach (var inner in nested)
                {
                    Collect(inner, stages);
                }

                break;
            default:
                throw new NotSupportedException(
                    $"ToDecodingPipeline: the chain holds a {transformer.GetType().Name}, which is not an LM-head stage; a decoding pipeline "
                    + "runs only ScaleTemperature, KeepTopK, KeepTopP, KeepMinP, AddLogitBias, the penalties, NormalizeToProbabilities and SampleNextToken "
                    + "(and skips DropColumns). Serve a chain of those stages alone.");
        }
    }

    private static DecodingPipeline Build(List<ChainStage> stages)
    {
        int sampler = stages.FindIndex(s => s.Kind == ChainStageKind.Sampler);
        if (sampler < 0)
        {
            throw new NotSupportedException(
                $"ToDecodingPipeline: the chain has no SampleNextToken (stages: {Describe(stages)}); a served pipeline draws the next token, so end the chain with NormalizeToProbabilities and SampleNextToken.");
        }

        if (sampler != stages.Count - 1)
        {
            throw new NotSupportedException(
                $"ToDecodingPipeline: {stages[sampler + 1].Name} comes after SampleNextToken (stages: {Describe(stages)}); SampleNextToken must be the last stage.");
        }

        if (sampler == 0 || stages[sampler - 1].Kind != ChainStageKind.Softmax)
        {
            throw new NotSupportedException(
                $"ToDecodingPipeline: SampleNextToken must read the output of NormalizeToProbabilities (stages: {Describe(stages)}).");
        }

        int softmaxCount = stages.Count(s => s.Kind == ChainStageKind.Softmax);
        if (softmaxCount != 1)
        {
            throw new NotSupportedException(
                $"ToDecodingPipeline: the chain normalises to probabilities {softmaxCount} times (stages: {Describe(stages)}); a pipeline has one softmax, just before SampleNextToken.");
        }

        var builder = new DecodingPipelineBuilder();
        foreach (var stage in stages.Take(sampler - 1))
        {
            Add(builder, stage.Stage!);
        }

        return builder.UseStepKeyedSeed(stages[sampler].Seed).Build();
    }

    /// <summary>Why the stages are not one path (a stage reading another column than the previous one wrote), or null.</summary>
    private static string? BrokenPath(List<ChainStage> stages)
    {
        for (int i = 1; i < stages.Count; i++)
        {
            if (stages[i].InputColumn is { } input && stages[i - 1].OutputColumn is { } previous && input != previous)
            {
                return $"ToDecodingPipeline: {stages[i].Name} reads column '{input}', but the stage before it, {stages[i - 1].Name}, writes '{previous}'; "
                    + "a served chain must be one path from the logits to the token.";
            }
        }

        return null;
    }

    // Built-in stages go through their Use* method so the builder records the options (and the CPU fast path applies).
    private static void Add(DecodingPipelineBuilder builder, ILogitsStage stage) => _ = stage switch
    {
        TemperatureScaler t => builder.UseTemperature(t.Temperature),
        TopKFilter k => builder.UseTopK(k.K),
        TopPFilter p => builder.UseTopP(p.P, p.MinTokensToKeep),
        MinPFilter m => builder.UseMinP(m.MinP),
        LogitBias b => builder.UseLogitBias(b.Bias),
        RepetitionPenalty r => builder.UseRepetitionPenalty(r.Penalty, r.Window),
        FrequencyPresencePenalty f => builder.UseFrequencyPresencePenalty(f.Frequency, f.Presence, f.Window),
        _ => builder.Use(stage),
    };

    private static string Describe(List<ChainStage> stages) =>
        stages.Count == 0 ? "none" : string.Join(" -> ", stages.Select(s => s.Name));
}
