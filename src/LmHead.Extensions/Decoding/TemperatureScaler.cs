using static TorchSharp.torch;

namespace LmHead.Extensions.Decoding;

/// <summary>
/// Divides logits by a temperature T. T &lt; 1 sharpens the distribution, T &gt; 1 flattens it, T = 1 changes nothing
/// (the stage returns an alias, no copy). T = 0 means greedy decoding: only the first maximum of each row is kept
/// and every other logit becomes -infinity, which is the limit of softmax(logits / T) as T → 0 with ties broken
/// toward the lower token id; a pipeline with T = 0 therefore always picks the argmax.
/// </summary>
public sealed class TemperatureScaler : ILogitsStage
{
    /// <summary>Creates a temperature stage.</summary>
    /// <param name="temperature">T ≥ 0 and finite; 0 means greedy.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="temperature"/> is negative, NaN or infinite.</exception>
    public TemperatureScaler(float temperature)
    {
        Validate(temperature);
        Temperature = temperature;
    }

    /// <summary>The temperature T.</summary>
    public float Temperature { get; }

    /// <summary>Whether this stage means greedy decoding (T = 0).</summary>
    public bool IsGreedy => Temperature == 0f;

    /// <summary>Whether the stage leaves logits unchanged (T = 1).</summary>
    public bool IsIdentity => Temperature == 1f;

    /// <summary>Checks a temperature value.</summary>
    /// <param name="temperature">The value to check.</param>
    /// <param name="paramName">The parameter name to report.</param>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative, NaN or infinite.</exception>
    public static void Validate(float temperature, string paramName = "temperature")
    {
        if (float.IsNaN(temperature) || float.IsInfinity(temperature) || temperature < 0f)
        {
            throw new ArgumentOutOfRangeException(paramName, temperature,
                $"{paramName} must be a finite number >= 0 (0 means greedy), but was {temperature}.");
        }
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException"><paramref name="logits"/> is not a floating-point <c>[V]</c> or <c>[B, V]</c> tensor.</exception>
    public Tensor Apply(Tensor logits)
    {
        LogitsGuard.RequireRows(logits, nameof(logits));
        if (IsIdentity)
        {
            return logits.alias();
        }

        return IsGreedy ? TopKFilter.KeepTop(logits, 1) : logits.div(Temperature);
    }
}
