using LmHead.Extensions.Decoding.Cpu;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LmHead.Extensions.Decoding;

/// <summary>
/// Projects the final hidden state of the last token (<c>[d]</c> or <c>[B, d]</c>) to logits over the
/// vocabulary (<c>[V]</c> or <c>[B, V]</c>) with the output-embedding matrix <c>[V, d]</c> and an optional bias <c>[V]</c>:
/// <c>logits = hidden · Wᵀ + b</c>.
/// </summary>
/// <remarks>
/// The projector holds its own handles to the weight and bias (aliases that share storage with the tensors given,
/// no copy) and releases them in <see cref="Dispose"/>; the caller keeps ownership of the tensors it passed in.
/// </remarks>
public sealed class LogitsProjector : IDisposable
{
    private readonly Tensor _weight;

    // What a float16 weight holds (infinities, NaNs, subnormals), scanned once per version of its storage.
    private readonly Float16WeightScan _scan;
    private readonly Tensor? _bias;
    private bool _disposed;

    /// <summary>Creates a projector over an output-embedding matrix.</summary>
    /// <param name="weight">The output-embedding matrix <c>[V, d]</c> (floating point, any device).</param>
    /// <param name="bias">An optional bias <c>[V]</c> on the same device.</param>
    /// <exception cref="ArgumentNullException"><paramref name="weight"/> is null.</exception>
    /// <exception cref="ArgumentException">A shape or dtype is not as described.</exception>
    public LogitsProjector(Tensor weight, Tensor? bias = null)
    {
        ArgumentNullException.ThrowIfNull(weight);
        TorchSharpRuntime.EnsureAvailable();
        if (weight.dim() != 2 || weight.shape[0] == 0 || weight.shape[1] == 0)
        {
            throw new ArgumentException($"weight must be a non-empty [V, d] matrix, but has shape [{string.Join(", ", weight.shape)}].", nameof(weight));
        }

        if (!weight.is_floating_point())
        {
            throw new ArgumentException($"weight must have a floating-point dtype, but has {weight.dtype}.", nameof(weight));
        }

        if (bias is not null && (bias.dim() != 1 || bias.shape[0] != weight.shape[0]))
        {
            throw new ArgumentException(
                $"bias must have shape [{weight.shape[0]}] to match the {weight.shape[0]} rows of weight, but has shape [{string.Join(", ", bias.shape)}].", nameof(bias));
        }

        if (bias is not null && !SameDevice(bias, weight))
        {
            throw new ArgumentException($"bias is on {bias.device} but weight is on {weight.device}.", nameof(bias));
        }

        _weight = weight.detach();
        _scan = new Float16WeightScan(_weight);
        _bias = bias?.detach();
    }

    /// <summary>The vocabulary size V (rows of the output-embedding matrix).</summary>
    public int VocabularySize => checked((int)_weight.shape[0]);

    /// <summary>The hidden size d the projector expects.</summary>
    public int HiddenSize => checked((int)_weight.shape[1]);

    /// <summary>The output-embedding matrix <c>[V, d]</c> (a handle owned by the projector; do not dispose).</summary>
    public Tensor Weight => _weight;

    /// <summary>The bias <c>[V]</c>, or <see langword="null"/> (owned by the projector; do not dispose).</summary>
    public Tensor? Bias => _bias;

    /// <summary>Creates a projector from a linear output layer (<c>lm_head</c>), using its weight and bias.</summary>
    /// <param name="linear">A linear layer with <c>in_features = d</c> and <c>out_features = V</c>.</param>
    /// <returns>A projector sharing the layer's parameters.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="linear"/> is null.</exception>
    public static LogitsProjector FromLinear(Linear linear)
    {
        ArgumentNullException.ThrowIfNull(linear);
        return new LogitsProjector(linear.weight!, linear.bias);
    }

    /// <summary>Creates a projector from a token-embedding table tied to the output (GPT-2's <c>wte</c>).</summary>
    /// <param name="embedding">An embedding with <c>V</c> rows of size <c>d</c>.</param>
    /// <returns>A projector sharing the embedding's weight.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="embedding"/> is null.</exception>
    public static LogitsProjector FromEmbedding(Embedding embedding)
    {
        ArgumentNullException.ThrowIfNull(embedding);
        return new LogitsProjector(embedding.weight!);
    }

    /// <summary>
    /// Creates a projector from a module's output embeddings, like Hugging Face's <c>model.get_output_embeddings()</c>:
    /// a model implementing <see cref="IHasOutputEmbeddings"/>, an <see cref="Linear"/> or an <see cref="Embedding"/>.
    /// </summary>
    /// <param name="module">The module.</param>
    /// <returns>A projector sharing the module's parameters.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="module"/> is null.</exception>
    /// <exception cref="ArgumentException">The module exposes no output embeddings.</exception>
    public static LogitsProjector FromModule(nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        return module switch
        {
            IHasOutputEmbeddings model => model.GetOutputEmbeddings(),
            Linear linear => FromLinear(linear),
            Embedding embedding => FromEmbedding(embedding),
            _ => throw new ArgumentException(
                $"module is a {module.GetType().Name}; expected an IHasOutputEmbeddings model, a Linear or an Embedding.", nameof(module)),
        };
    }

    /// <summary>Computes logits for a hidden state.</summary>
    /// <param name="hidden">The last token's hidden state <c>[d]</c> or a batch <c>[B, d]</c>, on the weight's device.</param>
    /// <returns>Logits <c>[V]</c> or <c>[B, V]</c> in the weight's dtype; the caller owns the tensor.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="hidden"/> is null.</exception>
    /// <exception cref="ArgumentException">The hidden size, rank or device does not match, or the dtype is not floating point.</exception>
    /// <exception cref="ObjectDisposedException">The projector was disposed.</exception>
    public Tensor Project(Tensor hidden)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (hidden.dim() is not (1 or 2))
        {
            throw new ArgumentException($"hidden must have shape [d] or [B, d], but has shape [{string.Join(", ", hidden.shape)}].", nameof(hidden));
        }

        if (!hidden.is_floating_point())
        {
            // Token ids passed where a hidden state belongs would otherwise be converted to floats and projected.
            throw new ArgumentException($"hidden must have a floating-point dtype (float32, float64, float16 or bfloat16), but has {hidden.dtype}.", nameof(hidden));
        }

        if (hidden.shape[^1] != _weight.shape[1])
        {
            throw new ArgumentException(
                $"hidden has size {hidden.shape[^1]} but the output-embedding matrix expects hidden size {_weight.shape[1]} (weight is [{_weight.shape[0]}, {_weight.shape[1]}]).",
                nameof(hidden));
        }

        if (!SameDevice(hidden, _weight))
        {
            throw new ArgumentException($"hidden is on {hidden.device} but the output-embedding matrix is on {_weight.device}; move one of them.", nameof(hidden));
        }

        using var scope = NewDisposeScope();
        if (KernelFormat() is { } format && (UseSimdKernel ?? IsKernelDefaultFor(format)) && (hidden.dim() == 1 || hidden.shape[0] == 1))
        {
            return ProjectWithKernel(hidden, format).MoveToOuterDisposeScope();
        }

        var input = hidden.dtype == _weight.dtype ? hidden : hidden.to_type(_weight.dtype);
        return nn.functional.linear(input, _weight, _bias).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Whether a single hidden state on the CPU is projected by the managed SIMD kernel (<see cref="MatrixVectorKernel"/>)
    /// instead of <c>torch.nn.functional.linear</c>: <see langword="null"/> picks per weight dtype what measured fastest
    /// (<see cref="IsKernelDefaultFor"/>); tests and benchmarks force either. Batches and other devices always use TorchSharp.
    /// </summary>
    internal bool? UseSimdKernel { get; set; }

    /// <summary>
    /// The measured choice (docs/benchmarks.md, run E): the kernel wherever the CPU runs its vector code (AVX2 and FMA),
    /// for float32, bfloat16 and float16 weights alike; TorchSharp's <c>linear</c> otherwise.
    /// </summary>
    internal static bool IsKernelDefaultFor(MatrixVectorKernel.WeightFormat format) =>
        MatrixVectorKernel.IsAccelerated && format is MatrixVectorKernel.WeightFormat.Float32 or MatrixVectorKernel.WeightFormat.BFloat16 or MatrixVectorKernel.WeightFormat.Float16;

    /// <summary>What the float16 weight scan knows of the matrix now (<see cref="Float16WeightScan"/>); unknown for other dtypes.</summary>
    internal Float16WeightFacts Float16Facts() => _weight.dtype == ScalarType.Float16 ? _scan.Current() : Float16WeightFacts.Unknown;

    /// <summary>The format the managed kernel reads this head in when it projects a single state with it, or null when it would not.</summary>
    internal MatrixVectorKernel.WeightFormat? SingleStateKernelFormat() =>
        KernelFormat() is { } format && (UseSimdKernel ?? IsKernelDefaultFor(format)) ? format : null;

    private MatrixVectorKernel.WeightFormat? KernelFormat()
    {
        if (_weight.device_type != DeviceType.CPU || !_weight.is_contiguous() || _weight.NumberOfElements * _weight.ElementSize > int.MaxValue)
        {
            return null;
        }

        if (_bias is not null && (!_bias.is_contiguous() || _bias.dtype != _weight.dtype))
        {
            return null;
        }

        return _weight.dtype switch
        {
            ScalarType.Float32 => MatrixVectorKernel.WeightFormat.Float32,
            ScalarType.BFloat16 => MatrixVectorKernel.WeightFormat.BFloat16,
            ScalarType.Float16 => MatrixVectorKernel.WeightFormat.Float16,
            _ => null,
        };
    }

    private unsafe Tensor ProjectWithKernel(Tensor hidden, MatrixVectorKernel.WeightFormat format)
    {
        // No libtorch compute op runs here for a float32 hidden state: libtorch's OpenMP workers keep spinning after
        // each parallel op and would take the cores from the kernel's threads. Bias and output stay in the weight's
        // dtype; the kernel widens and rounds them itself.
        int rows = VocabularySize, columns = HiddenSize;
        var input = hidden.dtype == ScalarType.Float32 ? hidden.contiguous() : hidden.to_type(ScalarType.Float32).contiguous();
        var output = empty(rows, _weight.dtype);
        fixed (byte* w = _weight.bytes)
        fixed (byte* h = input.bytes)
        fixed (byte* y = output.bytes)
        fixed (byte* b = _bias is null ? default : _bias.bytes)
        {
            MatrixVectorKernel.Multiply(
                (nint)w, format, rows, columns, (nint)h, (nint)b, (nint)y, vectorFormat: format,
                facts: format == MatrixVectorKernel.WeightFormat.Float16 ? _scan.Current() : default);
        }

        return hidden.dim() == 1 ? output : output.unsqueeze(0);
    }

    private static bool SameDevice(Tensor a, Tensor b) => a.device_type == b.device_type && a.device_index == b.device_index;

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _weight.Dispose();
        _bias?.Dispose();
    }
}
