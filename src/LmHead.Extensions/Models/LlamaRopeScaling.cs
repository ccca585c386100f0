namespace LmHead.Extensions.Models;

/// <summary>
/// config.json's <c>rope_scaling</c> for the Llama family: <c>"llama3"</c> (Llama 3.1/3.2: long wavelengths divided by
/// <see cref="Factor"/>, short ones kept, a smooth blend between) or <c>"linear"</c> (every frequency divided by
/// <see cref="Factor"/>). Other types (<c>dynamic</c>, <c>yarn</c>, <c>longrope</c>, ...) are refused when the configuration
/// is validated.
/// </summary>
public sealed record LlamaRopeScaling
{
    /// <summary>The <c>rope_type</c> (or legacy <c>type</c>): <c>llama3</c> or <c>linear</c>.</summary>
    public required string RopeType { get; init; }

    /// <summary><c>factor</c>: how much longer the context is than the one trained without scaling.</summary>
    public required double Factor { get; init; }

    /// <summary><c>low_freq_factor</c> (llama3 only).</summary>
    public double LowFrequencyFactor { get; init; } = 1;

    /// <summary><c>high_freq_factor</c> (llama3 only).</summary>
    public double HighFrequencyFactor { get; init; } = 4;

    /// <summary><c>original_max_position_embeddings</c> (llama3 only).</summary>
    public int OriginalMaxPositions { get; init; } = 8192;

    /// <summary>
    /// Applies the scaling to the unscaled inverse frequencies <c>1 / theta^(2i/d)</c>, as Hugging Face's
    /// <c>_compute_llama3_parameters</c> and <c>_compute_linear_scaling_rope_parameters</c> do (in double precision).
    /// </summary>
    /// <param name="inverseFrequencies">The unscaled inverse frequencies; scaled in place.</param>
    internal void Apply(double[] inverseFrequencies)
    {
        if (RopeType == "linear")
        {
            for (int i = 0; i < inverseFrequencies.Length; i++)
            {
                inverseFrequencies[i] /= Factor;
            }

            return;
        }

        double lowWavelength = OriginalMaxPositions / LowFrequencyFactor;
        double highWavelength = OriginalMaxPositions / HighFrequencyFactor;
        for (int i = 0; i < inverseFrequencies.Length; i++)
        {
            double frequency = inverseFrequencies[i];
            double wavelength = 2 * Math.PI / frequency;
            if (wavelength > lowWavelength)
            {
                inverseFrequencies[i] = frequency / Factor;
            }
            else if (wavelength >= highWavelength)
            {
                double smooth = ((OriginalMaxPositions / wavelength) - LowFrequencyFactor) / (HighFrequencyFactor - LowFrequencyFactor);
                inverseFrequencies[i] = ((1 - smooth) * frequency / Factor) + (smooth * frequency);
            }
        }
    }
}
