using static TorchSharp.torch;

namespace LmHead.Extensions.Decoding;

/// <summary>
/// Divides logits by a temperature T. T &lt; 1 sharpens the distribution, T &gt; 1 flattens it, T = 1 changes nothing
/// (the stage returns an alias, no copy). T = 0 means greedy decoding: only the first maximum of each row is kept
/// and every other logit becomes -infinity, which is the limit of softmax(logits / T) as T → 0 with ties broken
/// toward the lower token id; a pipeline with T = 0 therefore always picks the argmax.
/// </summary>
/// <remarks>
/// Very small temperatures (or very large logits): a row whose maximum m gives <c>|m / T| &gt; 4096</c> (float32 logits; see
/// <see cref="ShiftLimit"/> for the other dtypes) becomes <c>(x − m) / T</c> instead of <c>x / T</c>. Every later stage and the softmax are unchanged by
/// subtracting a constant from a row, so the probabilities are the same, but the scaled values can no longer overflow
/// to +infinity (logits near <see cref="float.MaxValue"/>, or T down to the smallest denormal) nor round two different
/// logits to the same value (which would split the probability between them); the maximum becomes exactly 0. As
/// T → 0 the distribution tends to the maxima of the row, ties sharing the probability evenly. Greedy (T = 0) and the
/// ranking stages reject NaN and +infinity; for T &gt; 0, NaN and +infinity pass through unchanged, as in every
/// element-wise stage, and the next ranking stage or the softmax reports them.
/// </remarks>
public sealed class TemperatureScaler : ILogitsStage
{
    /// <summary>Creates a temperature stage.</summary>
    /// <param name="temperature">T ≥ 0 and finite; 0 means greedy.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="temperature"/> is negative, NaN or infinite.</exception>
    public TemperatureScaler(float temperature)
        : this(temperature, validated: false)
    {
    }

    /// <summary>Creates the stage for a temperature <see cref="DecodingOptions"/> has already checked (it is checked once, there).</summary>
    internal TemperatureScaler(float temperature, bool validated)
    {
        if (!validated)
        {
            Validate(temperature);
        }

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

    /// <summary>
    /// Float32 rows whose <c>|max / T|</c> exceeds this are shifted by their maximum before the division, so that rounding
    /// the scaled values costs at most about 2^-12 in any exponent of the softmax and nothing overflows.
    /// Other dtypes use the limit with the same rounding cost: 2^(precision − 12), precision being 53 (float64), 24
    /// (float32), 11 (float16) or 8 (bfloat16) bits.
    /// </summary>
    internal const float ShiftLimit = 4096f;

    /// <summary><see cref="ShiftLimit"/> for a dtype.</summary>
    internal static double ShiftLimitFor(ScalarType dtype) => dtype switch
    {
        ScalarType.Float64 => Math.ScaleB(1, 53 - 12),
        ScalarType.Float16 => Math.ScaleB(1, 11 - 12),
        ScalarType.BFloat16 => Math.ScaleB(1, 8 - 12),
        _ => ShiftLimit,
    };

    /// <summary>
    /// The constant subtracted from a float32 row with maximum <paramref name="rowMax"/> before dividing by
    /// <paramref name="temperature"/> (T &gt; 0): the maximum when it is finite and <c>|max| / T</c>
    /// exceeds <see cref="ShiftLimit"/> in float32 arithmetic, else 0. The CPU fast path and the ML.NET rows use it too.
    /// </summary>
    internal static float ShiftFor(float rowMax, float temperature) =>
        float.IsFinite(rowMax) && Math.Abs(rowMax) / temperature > ShiftLimit ? rowMax : 0f;

    /// <inheritdoc />
    /// <exception cref="ArgumentException"><paramref name="logits"/> is not a floating-point <c>[V]</c> or <c>[B, V]</c> tensor,
    /// or (greedy only, T = 0) holds NaN or +infinity.</exception>
    public Tensor Apply(Tensor logits)
    {
        LogitsGuard.RequireRows(logits, nameof(logits));
        if (IsIdentity)
        {
            return logits.alias();
        }

        if (IsGreedy)
        {
            // Keeping "the maximum" of a row with NaN would make every entry -infinity and hide the NaN.
            LogitsGuard.RequireNoNaNOrPositiveInfinity(logits, nameof(logits));
            return TopKFilter.KeepTop(logits, 1);
        }

        using var scope = NewDisposeScope();
        var max = logits.amax([-1], keepdim: true);
        var shifted = max.isfinite().logical_and(max.abs().div(Temperature).gt(ShiftLimitFor(logits.dtype)));
        if (!shifted.any().item<bool>())
        {
            return logits.div(Temperature).MoveToOuterDisposeScope();
        }

        var shift = where(shifted, max, zeros_like(max));
        return logits.sub(shift).div(Temperature).MoveToOuterDisposeScope();
    }
}
