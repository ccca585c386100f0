using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.Decoding;

/// <summary>Shared argument checks for tensors that hold logits or probabilities.</summary>
internal static class LogitsGuard
{
    /// <summary>Checks that <paramref name="tensor"/> is a floating-point <c>[V]</c> or <c>[B, V]</c> tensor.</summary>
    public static void RequireRows(Tensor tensor, string paramName)
    {
        ArgumentNullException.ThrowIfNull(tensor, paramName);
        TorchSharpRuntime.EnsureAvailable();
        if (tensor.dim() is not (1 or 2))
        {
            throw new ArgumentException(
                $"{paramName} must have shape [V] or [B, V], but has shape [{string.Join(", ", tensor.shape)}].", paramName);
        }

        if (!tensor.is_floating_point())
        {
            throw new ArgumentException(
                $"{paramName} must have a floating-point dtype (float32, float64, float16 or bfloat16), but has {tensor.dtype}.", paramName);
        }

        if (tensor.shape[^1] == 0)
        {
            throw new ArgumentException($"{paramName} has an empty vocabulary dimension (V = 0).", paramName);
        }
    }

    /// <summary>Throws when any entry is NaN or +infinity (negative infinity marks a removed token and is allowed).</summary>
    public static void RequireNoNaNOrPositiveInfinity(Tensor logits, string paramName)
    {
        using var scope = NewDisposeScope();
        if (logits.isnan().any().item<bool>())
        {
            long index = logits.isnan().flatten().nonzero()[0, 0].item<long>();
            throw new ArgumentException(Describe(logits, index, "is NaN") + " NaN logits usually mean the model diverged or its weights are corrupt.", paramName);
        }

        if (logits.isposinf().any().item<bool>())
        {
            long index = logits.isposinf().flatten().nonzero()[0, 0].item<long>();
            throw new ArgumentException(Describe(logits, index, "is +infinity") + " Logits must be finite, or -infinity for a removed token.", paramName);
        }
    }

    /// <summary>Throws when a row has no finite entry (every token removed).</summary>
    public static void RequireSomeFiniteEntryPerRow(Tensor logits, string paramName)
    {
        using var scope = NewDisposeScope();
        var rows = logits.dim() == 1 ? logits.unsqueeze(0) : logits;
        var empty = rows.isfinite().any(-1).logical_not();
        if (empty.any().item<bool>())
        {
            long row = empty.nonzero()[0, 0].item<long>();
            throw new ArgumentException(
                $"{paramName}: row {row} has every entry at -infinity, so no token can be chosen (a filter or ban removed the whole vocabulary).", paramName);
        }
    }

    private static string Describe(Tensor logits, long flatIndex, string what)
    {
        long vocabulary = logits.shape[^1];
        return logits.dim() == 1
            ? $"The logit of token {flatIndex} {what}."
            : $"The logit of token {flatIndex % vocabulary} in row {flatIndex / vocabulary} {what}.";
    }
}
