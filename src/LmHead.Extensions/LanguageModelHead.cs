using LmHead.Extensions.Decoding;
using LmHead.Extensions.Tokenization;
using Microsoft.ML.Tokenizers;
using static TorchSharp.torch;

namespace LmHead.Extensions;

/// <summary>
/// The two functions of the original Python seed, as a convenience API:
/// <c>lm_head(model, vector, temperature=0.7, k=50) -> probabilities</c> and
/// <c>get_top_token(probabilities, tokenizer, top_n=1) -> text</c>.
/// For control over each stage, use <see cref="DecodingPipelineBuilder"/>.
/// </summary>
public static class LanguageModelHead
{
    /// <summary>
    /// Projects a last-token hidden state with the model's output embeddings, divides by the temperature, keeps the top k
    /// logits and applies softmax.
    /// </summary>
    /// <param name="model">A model exposing its output embeddings.</param>
    /// <param name="vector">The last token's hidden state <c>[d]</c> or <c>[B, d]</c>.</param>
    /// <param name="temperature">T ≥ 0 (0 keeps only the argmax).</param>
    /// <param name="k">Top-k; at least 1.</param>
    /// <returns>Probabilities <c>[V]</c> or <c>[B, V]</c>; the caller owns the tensor.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="temperature"/> or <paramref name="k"/> is out of range.</exception>
    /// <exception cref="ArgumentException"><paramref name="vector"/> is not floating point or does not match the model's hidden size.</exception>
    public static Tensor ComputeProbabilities(IHasOutputEmbeddings model, Tensor vector,
        float temperature = DecodingDefaults.Temperature, int k = DecodingDefaults.TopK)
    {
        ArgumentNullException.ThrowIfNull(model);
        RequireFloatingPoint(vector);
        using var projector = model.GetOutputEmbeddings();
        return ComputeProbabilities(projector, vector, temperature, k);
    }

    /// <summary>As <see cref="ComputeProbabilities(IHasOutputEmbeddings, Tensor, float, int)"/>, with a projector.</summary>
    /// <param name="projector">The output-embedding projection.</param>
    /// <param name="vector">The last token's hidden state <c>[d]</c> or <c>[B, d]</c>.</param>
    /// <param name="temperature">T ≥ 0 (0 keeps only the argmax).</param>
    /// <param name="k">Top-k; at least 1.</param>
    /// <returns>Probabilities <c>[V]</c> or <c>[B, V]</c>; the caller owns the tensor.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="temperature"/> or <paramref name="k"/> is out of range.</exception>
    /// <exception cref="ArgumentException"><paramref name="vector"/> is not floating point or does not match the projector's hidden size.</exception>
    public static Tensor ComputeProbabilities(LogitsProjector projector, Tensor vector,
        float temperature = DecodingDefaults.Temperature, int k = DecodingDefaults.TopK)
    {
        ArgumentNullException.ThrowIfNull(projector);
        RequireFloatingPoint(vector);
        var pipeline = new DecodingPipelineBuilder().UseTemperature(temperature).UseTopK(k).Build();
        using var scope = NewDisposeScope();
        return pipeline.ComputeProbabilities(projector.Project(vector)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Draws <paramref name="topN"/> distinct tokens from the probabilities (like <c>torch.multinomial</c>) and decodes
    /// them, in draw order, to text.
    /// </summary>
    /// <param name="probabilities">Probabilities <c>[V]</c>.</param>
    /// <param name="tokenizer">The tokenizer to decode with (for example <see cref="Tokenization.Gpt2Tokenizer.Default"/>).</param>
    /// <param name="topN">How many tokens to draw; at least 1.</param>
    /// <param name="seed">A seed for a reproducible draw, or <see langword="null"/>.</param>
    /// <returns>The decoded text of the drawn tokens.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="topN"/> is not positive.</exception>
    /// <exception cref="ArgumentException"><paramref name="probabilities"/> is not a valid single row, or a drawn id is one
    /// the tokenizer cannot decode (a row wider than the tokenizer's vocabulary).</exception>
    public static string GetTopToken(Tensor probabilities, Tokenizer tokenizer, int topN = 1, ulong? seed = null)
    {
        ArgumentNullException.ThrowIfNull(probabilities);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (probabilities.dim() != 1)
        {
            throw new ArgumentException($"probabilities must be a single row [V], but has shape [{string.Join(", ", probabilities.shape)}].", nameof(probabilities));
        }

        var sampler = new MultinomialSampler(topN, withReplacement: false, seed);
        using var samples = sampler.Sample(probabilities);
        int[] ids = [.. samples.Ids.cpu().data<long>().ToArray().Select(id => (int)id)];
        foreach (int id in ids)
        {
            // The tokenizer would decode an unknown id to nothing: an empty answer that looks like a real one.
            TokenizerVocabulary.RequireKnown(tokenizer, id, nameof(probabilities));
        }

        return tokenizer.Decode(ids);
    }

    /// <summary>Rejects integer (and boolean) hidden states, which the projection would otherwise silently convert.</summary>
    private static void RequireFloatingPoint(Tensor vector)
    {
        ArgumentNullException.ThrowIfNull(vector);
        TorchSharpRuntime.EnsureAvailable();
        if (!vector.is_floating_point())
        {
            throw new ArgumentException(
                $"vector must have a floating-point dtype (float32, float64, float16 or bfloat16), but has {vector.dtype}.", nameof(vector));
        }
    }
}
