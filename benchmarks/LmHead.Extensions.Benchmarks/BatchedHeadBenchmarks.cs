using BenchmarkDotNet.Attributes;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Cpu;
using LmHead.Extensions.Generation;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// The scheduler's head for B requests of one step on GPT-2's fp32 head (50,257 × 768): the batched projection (the
/// weight read once for all rows, each row summed as when alone) against projecting row by row.
/// </summary>
[InProcessShortJob]
public class BatchedHeadBenchmarks
{
    private LogitsProjector _projector = null!;
    private Tensor _weight = null!;
    private Tensor _hidden = null!;

    /// <summary>Rows of the step.</summary>
    [Params(1, 8, 16)]
    public int Rows { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var generator = new Generator(3);
        _weight = randn(50257, 768, generator: generator).mul_(0.02);
        _hidden = randn(Rows, 768, generator: generator);
        _projector = new LogitsProjector(_weight);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _projector.Dispose();
        _weight.Dispose();
        _hidden.Dispose();
    }

    /// <summary>One batched projection of all rows.</summary>
    [Benchmark]
    public long Batched()
    {
        using var logits = BatchedHeadProjection.Project(_projector, _hidden);
        return logits.size(0);
    }

    /// <summary>The batched projection with the 4 × 4 AVX-512 tile instead of the 8 × 2 one (the same bits).</summary>
    [Benchmark]
    public long BatchedFourByFourTile()
    {
        WideBatchKernel.UseEightByTwoTile = false;
        try
        {
            using var logits = BatchedHeadProjection.Project(_projector, _hidden);
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
            using var logits = BatchedHeadProjection.Project(_projector, _hidden);
            return logits.size(0);
        }
        finally
        {
            WideBatchKernel.UseEightByTwoTile = true;
            WideBatchKernel.UseFourByFourTile = true;
        }
    }

    /// <summary>Each row through <see cref="LogitsProjector.Project"/> (the SIMD kernel), one after another.</summary>
    [Benchmark(Baseline = true)]
    public long RowByRow()
    {
        long total = 0;
        for (int b = 0; b < Rows; b++)
        {
            using var row = _hidden[b];
            using var logits = _projector.Project(row);
            total += logits.size(0);
        }

        return total;
    }
}
