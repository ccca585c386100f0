using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LmHead.Extensions.Decoding.Cpu;
using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// Not a benchmark: the float32 batched tile's multiply-add rate against this machine's FMA peak
/// (<c>--profile-batch tile</c>, docs/benchmarks.md run Y-batch). One thread (no parallel blocks), B = 16, GPT-2 small's
/// four linear shapes: the rate with weights read from memory (twelve copies, as in a step) and with one 32-row block
/// read again and again (cache-resident: the tile's own rate); then 24 independent FMA chains in registers. The tiles
/// named in <c>TILE_CONFIGS</c> (comma-separated; <c>4</c> = the 4 × 4 tile, <c>8</c> = the 8 × 2 tile; default both)
/// alternate in each of <c>TILE_ROUNDS</c> rounds (default 5) so that they see the same load; the best round is shown.
/// Rates are GFLOP/s (2 per multiply-add lane) by thread CPU time.
/// </summary>
internal static unsafe class TileProfile
{
    private const int Repeats = 7;

    internal static void Run()
    {
        Console.WriteLine($"FMA peak (24 chains of 512-bit FMA, one thread): {FmaPeak():F1} GFLOP/s");
        var configs = (Environment.GetEnvironmentVariable("TILE_CONFIGS") ?? "4,8").Split(',');
        int rounds = int.Parse(Environment.GetEnvironmentVariable("TILE_ROUNDS") ?? "5", System.Globalization.CultureInfo.InvariantCulture);
        int d = 768;
        var shapes = new[] { (3 * d, d), (d, d), (4 * d, d), (d, 4 * d) };
        var memory = new double[configs.Length, shapes.Length];
        var resident = new double[configs.Length, shapes.Length];
        for (int round = 0; round < rounds; round++)
        {
            for (int c = 0; c < configs.Length; c++)
            {
                Apply(configs[c]);
                for (int s = 0; s < shapes.Length; s++)
                {
                    var (outputs, inputs) = shapes[s];
                    memory[c, s] = Math.Max(memory[c, s], Rate(outputs, inputs, 16, copies: 12, calls: 1));
                    resident[c, s] = Math.Max(resident[c, s], Rate(32, inputs, 16, copies: 1, calls: 200));
                }
            }
        }

        Console.WriteLine("config | B = 16 from memory, GFLOP/s (2304x768, 768x768, 3072x768, 768x3072) | cache-resident 32-row block");
        for (int c = 0; c < configs.Length; c++)
        {
            Console.WriteLine($"{configs[c],8} | {string.Join(" ", Enumerable.Range(0, shapes.Length).Select(s => memory[c, s].ToString("F1", System.Globalization.CultureInfo.InvariantCulture).PadLeft(6)))} | " +
                string.Join(" ", Enumerable.Range(0, shapes.Length).Select(s => resident[c, s].ToString("F1", System.Globalization.CultureInfo.InvariantCulture).PadLeft(6))));
        }
    }

    private static void Apply(string config)
    {
        var parts = config.Split(':').Select(p => int.Parse(p, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        BatchedMatrixKernel.UseEightByTwoTile = parts[0] == 8;
    }

    private static double Rate(int outputs, int inputs, int batch, int copies, int calls)
    {
        var weights = Enumerable.Range(0, copies).Select(c => Matrix((long)outputs * inputs, c)).ToArray();
        var x = (float*)Matrix((long)batch * inputs, 99);
        var y = (float*)NativeMemory.AlignedAlloc((nuint)batch * (nuint)outputs * sizeof(float), 64);
        try
        {
            double best = double.MaxValue;
            for (int r = 0; r <= 3; r++)
            {
                double start = ThreadCpuTime.Seconds();
                for (int call = 0; call < calls; call++)
                {
                    foreach (var w in weights)
                    {
                        BatchedMatrixKernel.Multiply(w, WeightFormat.Float32, outputs, inputs, x, batch, 0, y, parallel: false);
                    }
                }

                double seconds = ThreadCpuTime.Seconds() - start;
                best = r == 0 ? best : Math.Min(best, seconds);
            }

            return 2.0 * outputs * inputs * batch * copies * calls / best / 1e9;
        }
        finally
        {
            foreach (var w in weights)
            {
                NativeMemory.AlignedFree((void*)w);
            }

            NativeMemory.AlignedFree(x);
            NativeMemory.AlignedFree(y);
        }
    }

    private static double FmaPeak()
    {
        const long Iterations = 20_000_000;
        double best = double.MaxValue;
        float sink = 0;
        for (int r = 0; r < 5; r++)
        {
            double start = ThreadCpuTime.Seconds();
            sink += FmaChains(Iterations);
            best = Math.Min(best, ThreadCpuTime.Seconds() - start);
        }

        GC.KeepAlive(sink);
        return 2.0 * 16 * 24 * Iterations / best / 1e9;
    }

    private static float FmaChains(long iterations)
    {
        var m = Vector512.Create(0.999f);
        var c = Vector512.Create(1e-3f);
        Vector512<float> a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m, a10 = m, a11 = m;
        Vector512<float> b0 = m, b1 = m, b2 = m, b3 = m, b4 = m, b5 = m, b6 = m, b7 = m, b8 = m, b9 = m, b10 = m, b11 = m;
        for (long i = 0; i < iterations; i++)
        {
            a0 = Avx512F.FusedMultiplyAdd(a0, m, c); a1 = Avx512F.FusedMultiplyAdd(a1, m, c); a2 = Avx512F.FusedMultiplyAdd(a2, m, c);
            a3 = Avx512F.FusedMultiplyAdd(a3, m, c); a4 = Avx512F.FusedMultiplyAdd(a4, m, c); a5 = Avx512F.FusedMultiplyAdd(a5, m, c);
            a6 = Avx512F.FusedMultiplyAdd(a6, m, c); a7 = Avx512F.FusedMultiplyAdd(a7, m, c); a8 = Avx512F.FusedMultiplyAdd(a8, m, c);
            a9 = Avx512F.FusedMultiplyAdd(a9, m, c); a10 = Avx512F.FusedMultiplyAdd(a10, m, c); a11 = Avx512F.FusedMultiplyAdd(a11, m, c);
            b0 = Avx512F.FusedMultiplyAdd(b0, m, c); b1 = Avx512F.FusedMultiplyAdd(b1, m, c); b2 = Avx512F.FusedMultiplyAdd(b2, m, c);
            b3 = Avx512F.FusedMultiplyAdd(b3, m, c); b4 = Avx512F.FusedMultiplyAdd(b4, m, c); b5 = Avx512F.FusedMultiplyAdd(b5, m, c);
            b6 = Avx512F.FusedMultiplyAdd(b6, m, c); b7 = Avx512F.FusedMultiplyAdd(b7, m, c); b8 = Avx512F.FusedMultiplyAdd(b8, m, c);
            b9 = Avx512F.FusedMultiplyAdd(b9, m, c); b10 = Avx512F.FusedMultiplyAdd(b10, m, c); b11 = Avx512F.FusedMultiplyAdd(b11, m, c);
        }

        var sum = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + b0 + b1 + b2 + b3 + b4 + b5 + b6 + b7 + b8 + b9 + b10 + b11;
        return Vector512.Sum(sum);
    }

    private static nint Matrix(long elements, int seed)
    {
        var w = (float*)NativeMemory.AlignedAlloc((nuint)elements * sizeof(float), 64);
        var random = new Random(seed);
        for (long i = 0; i < elements; i++)
        {
            w[i] = ((float)random.NextDouble() - 0.5f) * 0.04f;
        }

        return (nint)w;
    }
}
