using System.Collections.ObjectModel;
using static TorchSharp.torch;

namespace LmHead.Extensions.Decoding;

/// <summary>
/// Adds a fixed bias to chosen tokens' logits (OpenAI's <c>logit_bias</c>, llama.cpp's logit bias). A bias of
/// -infinity bans a token: it can never be chosen.
/// </summary>
public sealed class LogitBias : ILogitsStage
{
    private readonly ReadOnlyDictionary<int, float> _bias;

    /// <summary>Creates a bias stage.</summary>
    /// <param name="bias">Token id → additive bias; finite values or -infinity (a ban).</param>
    /// <exception cref="ArgumentNullException"><paramref name="bias"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is negative, or a bias is NaN or +infinity.</exception>
    public LogitBias(IReadOnlyDictionary<int, float> bias)
    {
        ArgumentNullException.ThrowIfNull(bias);
        foreach (var (token, value) in bias)
        {
            if (token < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(bias), token, $"bias: token id {token} is negative.");
            }

            if (float.IsNaN(value) || float.IsPositiveInfinity(value))
            {
                throw new ArgumentOutOfRangeException(nameof(bias), value, $"bias for token {token} is {value}; use a finite value or -infinity (a ban).");
            }
        }

        _bias = new Dictionary<int, float>(bias).AsReadOnly();
    }

    /// <summary>The biases by token id.</summary>
    public IReadOnlyDictionary<int, float> Bias => _bias;

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The logits are invalid, or a biased token id is not below the vocabulary size.</exception>
    public Tensor Apply(Tensor logits)
    {
        LogitsGuard.RequireRows(logits, nameof(logits));
        if (_bias.Count == 0)
        {
            return logits.alias();
        }

        long vocabulary = logits.shape[^1];
        if (_bias.Keys.Max() is var largest && largest >= vocabulary)
        {
            throw new ArgumentException($"The logit bias names token {largest}, but the vocabulary has only {vocabulary} tokens.", nameof(logits));
        }

        using var scope = NewDisposeScope();
        var dense = new float[vocabulary];
        foreach (var (token, value) in _bias)
        {
            dense[token] = value;
        }

        var offset = tensor(dense, device: logits.device).to_type(logits.dtype);
        return logits.add(offset).MoveToOuterDisposeScope();
    }
}
