using static TorchSharp.torch;

namespace LmHead.Extensions.Decoding;

/// <summary>
/// Draws token ids from probabilities, like <c>torch.multinomial</c>: <see cref="SampleCount"/> ids per row, without
/// replacement by default. Rows need not sum to 1 (they are normalised); entries of 0 are never drawn.
/// </summary>
/// <remarks>
/// Draws come from a <see cref="SamplingRandom"/>, not from libtorch's generator, so a seed gives the same ids on every
/// run, machine and device. One draw is an inverse-CDF lookup of one uniform number per row in float64; several draws
/// without replacement use the exponential race (Efraimidis–Spirakis), which has the same distribution as drawing one
/// token at a time and renormalising. A sampler holds a generator and is not thread-safe; pass a generator per call
/// (<see cref="Sample(Tensor, SamplingRandom)"/>) to share one sampler between threads.
/// </remarks>
public sealed class MultinomialSampler
{
    private readonly SamplingRandom _random;
    private readonly object _gate = new();

    /// <summary>Creates a sampler.</summary>
    /// <param name="sampleCount">How many ids to draw per row; at least 1.</param>
    /// <param name="withReplacement">Whether an id may be drawn more than once in a row.</param>
    /// <param name="seed">A seed for reproducible draws, or <see langword="null"/> for an unpredictable one.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="sampleCount"/> is not positive.</exception>
    public MultinomialSampler(int sampleCount = 1, bool withReplacement = false, ulong? seed = null)
    {
        if (sampleCount <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(sampleCount), sampleCount, $"sampleCount must be at least 1, but was {sampleCount}.");
        }

        SampleCount = sampleCount;
        WithReplacement = withReplacement;
        _random = seed is { } s ? new SamplingRandom(s) : SamplingRandom.CreateUnseeded();
    }

    /// <summary>How many ids are drawn per row.</summary>
    public int SampleCount { get; }

    /// <summary>Whether an id may be drawn more than once per row.</summary>
    public bool WithReplacement { get; }

    /// <summary>Draws ids with the sampler's own generator (calls are serialised).</summary>
    /// <param name="probabilities">Non-negative weights <c>[V]</c> or <c>[B, V]</c>, each row with a positive sum.</param>
    /// <returns>The ids and their probabilities; the caller disposes them.</returns>
    /// <exception cref="ArgumentException">The tensor has the wrong rank or dtype, holds a negative, NaN or infinite weight, has a row summing to 0, or has fewer positive entries than draws without replacement.</exception>
    public TokenSamples Sample(Tensor probabilities)
    {
        lock (_gate)
        {
            return Sample(probabilities, _random);
        }
    }

    /// <summary>Draws ids with the given generator.</summary>
    /// <param name="probabilities">Non-negative weights <c>[V]</c> or <c>[B, V]</c>, each row with a positive sum.</param>
    /// <param name="random">The generator to draw from (advanced by the call).</param>
    /// <returns>The ids and their probabilities; the caller disposes them.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="random"/> is null.</exception>
    /// <exception cref="ArgumentException">As for <see cref="Sample(Tensor)"/>.</exception>
    public TokenSamples Sample(Tensor probabilities, SamplingRandom random)
    {
        LogitsGuard.RequireRows(probabilities, nameof(probabilities));
        ArgumentNullException.ThrowIfNull(random);
        using var scope = NewDisposeScope();
        bool single = probabilities.dim() == 1;
        var rows = (single ? probabilities.unsqueeze(0) : probabilities).to_type(ScalarType.Float64);
        ValidateWeights(rows, nameof(probabilities));
        long batch = rows.shape[0];
        long vocabulary = rows.shape[1];
        var totals = rows.sum(-1, keepdim: true);

        Tensor ids;
        if (SampleCount == 1 || WithReplacement)
        {
            var uniforms = Uniforms(random, batch, SampleCount, rows.device);
            var cdf = rows.cumsum(-1);
            var targets = uniforms.mul(totals);
            // The last token with positive weight: guards against a target that rounds up to the total.
            var lastPositive = rows.gt(0).flip(-1).to_type(ScalarType.Int64).argmax(-1, keepdim: true).neg().add(vocabulary - 1);
            ids = searchsorted(cdf, targets, right: true).minimum(lastPositive);
        }
        else
        {
            long fewest = rows.gt(0).sum(-1).min().item<long>();
            if (fewest < SampleCount)
            {
                throw new ArgumentException(
                    $"probabilities: cannot draw {SampleCount} distinct ids without replacement from a row with only {fewest} positive entries; draw fewer or set withReplacement.",
                    nameof(probabilities));
            }

            var keys = Uniforms(random, batch, vocabulary, rows.device).log().div(rows);
            ids = keys.topk(SampleCount, dim: -1).indexes;
        }

        var chosen = rows.gather(-1, ids).div(totals).to_type(probabilities.dtype);
        if (single)
        {
            ids = ids.squeeze(0);
            chosen = chosen.squeeze(0);
        }

        return new TokenSamples(ids.MoveToOuterDisposeScope(), chosen.MoveToOuterDisposeScope());
    }

    /// <summary>Draws one uniform, exactly as <see cref="DrawUniforms"/> would for one row.</summary>
    internal double DrawUniform(SamplingRandom? random)
    {
        if (random is null)
        {
            lock (_gate)
            {
                return _random.NextDouble();
            }
        }

        return random.NextDouble();
    }

    /// <summary>Draws one uniform per row, in row order, exactly as <see cref="Sample(Tensor, SamplingRandom)"/> would for one draw per row.</summary>
    internal double[] DrawUniforms(int rows, SamplingRandom? random)
    {
        var values = new double[rows];
        if (random is null)
        {
            lock (_gate)
            {
                Fill(values, _random);
            }
        }
        else
        {
            Fill(values, random);
        }

        return values;

        static void Fill(double[] values, SamplingRandom random)
        {
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = random.NextDouble();
            }
        }
    }

    private static Tensor Uniforms(SamplingRandom random, long rows, long columns, Device device)
    {
        var values = new double[rows * columns];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = random.NextDouble();
        }

        return tensor(values, [rows, columns], ScalarType.Float64, device);
    }

    private static void ValidateWeights(Tensor rows, string paramName)
    {
        if (!rows.isfinite().all().item<bool>())
        {
            throw new ArgumentException("probabilities must be finite; found NaN or infinity (normalise logits with SoftmaxNormalizer first).", paramName);
        }

        if (rows.lt(0).any().item<bool>())
        {
            long index = rows.lt(0).flatten().nonzero()[0, 0].item<long>();
            throw new ArgumentException(
                $"probabilities must be non-negative, but entry {index % rows.shape[1]} of row {index / rows.shape[1]} is {rows.flatten()[index].item<double>()}.", paramName);
        }

        var zeroRows = rows.sum(-1).le(0);
        if (zeroRows.any().item<bool>())
        {
            long row = zeroRows.nonzero()[0, 0].item<long>();
            throw new ArgumentException($"probabilities: row {row} sums to 0, so no token can be drawn.", paramName);
        }
    }
}
