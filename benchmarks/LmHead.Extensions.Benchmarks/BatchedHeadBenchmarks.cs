using BenchmarkDotNet.Attributes;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Cpu;
using LmHead.Extensions.Generation;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// The scheduler's head for B requests of one step on GPT-2's head (50,257 × 768, N(0, 0.02²)): the batched projection
/// (the weight read once for all rows, each row summed as when alone) against projecting row by row.
/// </summary>
public abstract class HeadProjectionBenchmarks
{
    private Tensor _weight = null!;

    /// <summary>The head.</summary>
    protected LogitsProjector Projector { get; private set; } = null!;

    /// <summary>The step's hidden states, <c>[Rows, 768]</c>.</summary>
    protected Tensor Hidden { get; private set; } = null!;

    /// <summary>Rows of the step.</summary>
    [Params(1, 8, 16)]
    public int Rows { get; set; }

    /// <summary>The head's dtype.</summary>
    protected abstract ScalarType WeightType { get; }

    [GlobalSetup]
    public void Setup()
    {
        var generator = new Generator(3);
        using var full = randn(50257, 768, generator: generator).mul_(0.02);
        _weight = full.to_type(WeightType);
        Hidden = randn(Rows, 768, generator: generator);
        Projector = new LogitsProjector(_weight);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Projector.Dispose();
        _weight.Dispose();
        Hidden.Dispose();
    }

    /// <summary>One batched projection of all rows.</summary>
    [Benchmark]
    public long Batched()
    {
        using var logits = BatchedHeadProjection.Project(Projector, Hidden);
        return logits.size(0);
    }

    /// <summary>Each row through <see cref="LogitsProjector.Project"/> (the SIMD kernel), one after another.</summary>
    [Benchmark(Baseline = true)]
    public long RowByRow()
    {
        long total = 0;
        for (int b = 0; b < Rows; b++)
        {
            using var row = Hidden[b];
            using var logits = Projector.Project(row);
            total += logits.size(0);
        }

        return total;
    }
}

/// <summary>The float32 head, with the batched projection's AVX-512 tiles compared as well (the same bits).</summary>
[InProcessShortJob]
public class BatchedHeadBenchmarks : HeadProjectionBenchmarks
{
    /// <inheritdoc />
    protected override ScalarType WeightType => ScalarType.Float32;

    /// <summary>The batched projection with the 4 × 4 AVX-512 tile instead of the 8 × 2 one (the same bits).</summary>
    [Benchmark]
    public long BatchedFourByFourTile()
    {
        WideBatchKernel.UseEightByTwoTile = false;
        try
        {
            using var logits = BatchedHeadProjection.Project(Projector, Hidden);
            return logits.size(0);
        }
        finally
        {
            WideBatchKernel.UseEightByTwoTile = true;
        }
    }

    /// <summary>The batched projection with the two-weight-row AVX-512 tile instead of the 8 × 2 one (the same bits).</summary>
    [Benchmark]
    public long BatchedTwoRowTile()
    {
        WideBatchKernel.UseEightByTwoTile = false;
        WideBatchKernel.UseFourByFourTile = false;
        try
        {
            using var logits = BatchedHeadProjection.Project(Projector, Hidden);
            return logits.size(0);
        }
        finally
        {
            WideBatchKernel.UseEightByTwoTile = true;
            WideBatchKernel.UseFourByFourTile = true;
        }
    }
}

/// <summary>
/// The same for the head in half precision (float16 holds subnormals at this initialisation): the batched projection
/// (<see cref="MatrixVectorKernel.TryMultiplyHalfBatch"/>: each weight row read once for all rows, widened once per four)
/// against projecting row by row, which reads the matrix once per row.
/// </summary>
[InProcessShortJob]
public class BatchedHalfHeadBenchmarks : HeadProjectionBenchmarks
{
    /// <summary>The head's dtype.</summary>
    [Params(ScalarType.Float16, ScalarType.BFloat16)]
    public ScalarType DType { get; set; }

    /// <inheritdoc />
    protected override ScalarType WeightType => DType;
}
