using LmHead.Extensions.Models;
using LmHead.Extensions.Tokenization;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks.LlamaCpp;

/// <summary>
/// Checks that llama.cpp, given a GGUF from <see cref="Gpt2GgufConverter"/>, computes the same logits as this library's
/// <see cref="Gpt2Model"/> on the same file's weights, and tokenizes text as GPT-2's tokenizer does. Both are compared
/// with a float64 reference: this library's model loaded in float64 from the same folder (for F16, the half-precision
/// weights themselves, computed exactly).
/// </summary>
internal static class LlamaCppAgreement
{
    /// <summary>
    /// The largest |ours - llama.cpp| accepted for F32 weights (logits of order 1). Ours is within about 1e-5 of the
    /// float64 reference; llama.cpp's F32 path is not all float32 (ggml's CPU GELU reads a half-precision table, and
    /// its flash attention, on by default, rounds through half precision), which on the GPT-2-small shape puts it
    /// 1.1e-3 (flash attention off) to 2.0e-3 (on) from the reference, so the bound is 5e-3; a wrong tensor mapping is
    /// off by the logits' own size (about 1).
    /// </summary>
    public const double F32Tolerance = 5e-3;

    /// <summary>
    /// The largest |llama.cpp - float64 reference| accepted for F16 weights: llama.cpp also rounds activations to half
    /// precision for its F16 matrix products (and its F16 KV cache), so half-precision rounding (2^-11 relative)
    /// accumulates over the blocks.
    /// </summary>
    public const double F16Tolerance = 1e-2;

    /// <summary>
    /// The same bound for BF16 weights: llama.cpp rounds activations to bfloat16 for its BF16 matrix products, whose
    /// relative rounding (2^-9) is 4 times float16's (2^-11); 4e-2 is <see cref="F16Tolerance"/> scaled by that.
    /// </summary>
    public const double BF16Tolerance = 4e-2;

    private const string SampleText = "Hello world! It's 2026: naïve café, 東京, 🙂,\ttabs and  two spaces.\n\nNew lines, CAPITALS and 12345.";

    /// <summary>Runs the comparison and throws when llama.cpp's logits are outside the tolerance.</summary>
    /// <param name="checkpoint">The files.</param>
    /// <param name="type">Which of the three (F32, F16 or BF16) to compare.</param>
    /// <param name="promptLength">How many positions: all but the last evaluated as one batch, the last as a cached decode step.</param>
    /// <returns>The measured differences.</returns>
    /// <exception cref="InvalidOperationException">llama.cpp's logits differ by more than the tolerance, or its tokenizer disagrees with GPT-2's.</exception>
    public static AgreementReport Check(RandomGpt2Checkpoint checkpoint, GgmlType type, int promptLength)
    {
        var config = checkpoint.Config;
        long[] ids = new long[promptLength];
        var random = new Random(3);
        for (int i = 0; i < ids.Length; i++)
        {
            ids[i] = random.Next(config.VocabularySize);
        }

        using var scope = NewDisposeScope();
        using var input = tensor(ids);
        double[] reference = Logits(checkpoint.Folder(type), ScalarType.Float64, input);
        double[] ours = Logits(checkpoint.Folder(type), RandomGpt2Checkpoint.ToScalarType(type), input);
        double[] llama = new double[reference.Length];
        bool? tokenizerAgrees = null;
        var cacheType = RandomGpt2Checkpoint.CacheType(type);
        using (var llamaCpp = new LlamaCppGpt2(checkpoint.Gguf(type), config.MaxPositions, cacheType, threads: 2, topK: 50, temperature: 0.7f, seed: 7))
        {
            int[] prompt = [.. ids.Select(id => (int)id)];
            llamaCpp.Evaluate(prompt.AsSpan(0, promptLength - 1), 0, allLogits: true);
            for (int t = 0; t < promptLength - 1; t++)
            {
                Copy(llamaCpp.Logits(t), llama.AsSpan(t * config.VocabularySize));
            }

            llamaCpp.Evaluate(prompt.AsSpan(promptLength - 1), promptLength - 1);
            Copy(llamaCpp.Logits(0), llama.AsSpan((promptLength - 1) * config.VocabularySize));
            if (config.VocabularySize == Gpt2Tokenizer.VocabularySize)
            {
                tokenizerAgrees = llamaCpp.Tokenize(SampleText).SequenceEqual(Gpt2Tokenizer.Default.EncodeToIds(SampleText));
            }
        }

        var report = new AgreementReport(type, config, promptLength, MaxAbsDifference(ours, llama), MaxAbsDifference(ours, reference),
            MaxAbsDifference(llama, reference), reference.Max(Math.Abs), tokenizerAgrees);
        double measured = type == GgmlType.F32 ? report.OursVersusLlamaCpp : report.LlamaCppVersusReference;
        double tolerance = type switch { GgmlType.F32 => F32Tolerance, GgmlType.F16 => F16Tolerance, _ => BF16Tolerance };
        if (!(measured <= tolerance) || tokenizerAgrees == false)
        {
            throw new InvalidOperationException($"llama.cpp disagrees with this library: {report} (tolerance {tolerance:g2}).");
        }

        return report;
    }

    /// <summary>
    /// The console check (<c>-- --check-llama-cpp</c>): a small model with GPT-2's vocabulary, a tiny one with a
    /// synthetic vocabulary and the GPT-2-small shape, each in F32, F16 and BF16.
    /// </summary>
    public static void RunConsoleCheck()
    {
        Gpt2Config[] configs =
        [
            new() { HiddenSize = 64, LayerCount = 2, HeadCount = 4, MaxPositions = 128, VocabularySize = 50257 },
            new() { HiddenSize = 32, LayerCount = 1, HeadCount = 2, MaxPositions = 64, VocabularySize = 300, BosTokenId = 299, EosTokenId = 299 },
            new() { HiddenSize = 768, LayerCount = 12, HeadCount = 12, MaxPositions = 1024, VocabularySize = 50257 },
        ];
        foreach (var config in configs)
        {
            using var checkpoint = RandomGpt2Checkpoint.Create(config, seed: 11);
            foreach (var type in RandomGpt2Checkpoint.Types)
            {
                Console.WriteLine(Check(checkpoint, type, promptLength: 16));
            }
        }
    }

    private static double[] Logits(string folder, ScalarType dtype, Tensor input)
    {
        using var model = Gpt2Pretrained.LoadModel(folder, dtype);
        using var logits = model.ComputeLogits(input);
        using var asDouble = logits.to_type(ScalarType.Float64);
        return asDouble.data<double>().ToArray();
    }

    private static void Copy(ReadOnlySpan<float> source, Span<double> destination)
    {
        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = source[i];
        }
    }

    private static double MaxAbsDifference(double[] a, double[] b)
    {
        double max = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double difference = Math.Abs(a[i] - b[i]);
            max = double.IsNaN(difference) ? double.NaN : Math.Max(max, difference);
        }

        return max;
    }
}

/// <summary>The largest absolute logit differences of one comparison.</summary>
internal sealed record AgreementReport(GgmlType Type, Gpt2Config Config, int Positions, double OursVersusLlamaCpp, double OursVersusReference,
    double LlamaCppVersusReference, double LargestReferenceLogit, bool? TokenizerAgrees)
{
    /// <inheritdoc />
    public override string ToString()
    {
        string tokenizer = TokenizerAgrees is { } agrees ? $", tokenizer {(agrees ? "agrees" : "DISAGREES")}" : "";
        return FormattableString.Invariant(
            $"{Type} d={Config.HiddenSize} layers={Config.LayerCount} V={Config.VocabularySize}, {Positions} positions: max |ours - llama.cpp| = {OursVersusLlamaCpp:e2}, |ours - float64| = {OursVersusReference:e2}, |llama.cpp - float64| = {LlamaCppVersusReference:e2} (largest |logit| {LargestReferenceLogit:f2}){tokenizer}");
    }
}
