using System.Diagnostics;
using System.Runtime.InteropServices;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Cpu;
using LmHead.Extensions.Models;
using static TorchSharp.torch;
using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// Not a benchmark: where one decode step's time goes (<c>--profile-decode</c>), for docs/benchmarks.md. Times the
/// parts of a GPT-2-small-shaped step (the whole step, the hidden states alone, the head, the sampling) and the linear
/// layers alone, each on 12 (24) distinct weight copies so that none is read from cache, against one SIMD read of as
/// many bytes; medians of repeated runs on whatever load the machine has.
/// </summary>
internal static unsafe class DecodeProfile
{
    private const int Repeats = 15;

    internal static void Run()
    {
        CompareWidthsOnOneThread();
        if (Environment.ProcessorCount == 1)
        {
            foreach (var dtype in new[] { ScalarType.Float32, ScalarType.Float16, ScalarType.BFloat16 })
            {
                ProfileGpt2(dtype);
            }

            ProfileQwen(ScalarType.BFloat16);
            return;
        }

        Console.WriteLine($"Vector512 hardware-accelerated: {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}; processors {Environment.ProcessorCount}" +
            (Environment.ProcessorCount == 1 ? " (times below: least thread CPU time, one thread)" : " (times below: median wall time)"));
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.Float16, ScalarType.BFloat16 })
        {
            ProfileGpt2(dtype);
        }

        ProfileQwen(ScalarType.BFloat16);
    }

    private static void ProfileGpt2(ScalarType dtype)
    {
        using var session = new DecodeSession(dtype);
        var (model, projector, cache, token) = (session.Model, session.Projector, session.Cache, session.Token);
        double step = Median(session.Step);
        double hiddenOnly = Median(() =>
        {
            using var scope = NewDisposeScope();
            model.ComputeHiddenStates(token, cache);
            cache.Rewind(DecodeSession.Position);
        });
        using var h = model.ComputeHiddenStates(token, cache);
        cache.Rewind(DecodeSession.Position);
        using var row = h[0];
        double head = Median(() =>
        {
            using var logits = projector.Project(row);
        });
        using var sampleLogits = projector.Project(row);
        double sample = Median(() => session.Sample(sampleLogits));

        var format = Format(dtype);
        int d = 768;
        double qkv = Linear(format, 3 * d, d, 12), proj = Linear(format, d, d, 12), up = Linear(format, 4 * d, d, 12), down = Linear(format, d, 4 * d, 12);
        long blockBytes = 12L * 12 * d * d * ElementSize(format);
        long headBytes = 50257L * d * ElementSize(format);
        double blockBound = Bound(blockBytes), headBound = Bound(headBytes);
        double linears = qkv + proj + up + down;
        Console.WriteLine($"GPT-2-small {dtype}, position 16, 2 threads, medians of {Repeats} (ms):");
        Console.WriteLine($"  step (hidden + head + sampling) {step:F2}");
        Console.WriteLine($"  hidden states (12 blocks)       {hiddenOnly:F2}   bound for the block weights {blockBound:F2}");
        Console.WriteLine($"    linear qkv 768->2304 x12      {qkv:F2}");
        Console.WriteLine($"    linear proj 768->768 x12      {proj:F2}");
        Console.WriteLine($"    linear fc 768->3072 x12       {up:F2}");
        Console.WriteLine($"    linear down 3072->768 x12     {down:F2}");
        Console.WriteLine($"    rest (attention, norms, gelu, hand-offs) {hiddenOnly - linears:F2}");
        Console.WriteLine($"  head 768->50257                 {head:F2}   bound {headBound:F2}");
        Console.WriteLine($"  sampling (T 0.7, top-k 50)      {sample:F2}");
        Console.WriteLine($"  other (tensor wrapping)         {step - hiddenOnly - head - sample:F2}");
        CompareWidths(format, [(3 * d, d), (d, d), (4 * d, d), (d, 4 * d)], 12, 50257, d);
    }

    /// <summary>The linear layers and the head alone with 32-byte and with 64-byte vectors, interleaved; minima (the least disturbed passes).</summary>
    private static void CompareWidths(WeightFormat format, (int Outputs, int Inputs)[] layers, int copies, int vocabulary, int d)
    {
        var all = layers.Select(l => Allocate(format, l.Outputs, l.Inputs, copies)).Append(Allocate(format, vocabulary, d, 1)).ToArray();
        var narrow = new double[all.Length];
        var wide = new double[all.Length];
        Array.Fill(narrow, double.MaxValue);
        Array.Fill(wide, double.MaxValue);
        for (int r = 0; r < Repeats + 2; r++)
        {
            for (int i = 0; i < all.Length; i++)
            {
                narrow[i] = Math.Min(narrow[i], all[i].Time(MatrixVectorKernel.VectorWidth.Vector256));
                wide[i] = Math.Min(wide[i], all[i].Time(MatrixVectorKernel.VectorWidth.Widest));
            }
        }

        foreach (var a in all)
        {
            a.Dispose();
        }

        double n = narrow[..^1].Sum(), w = wide[..^1].Sum();
        Console.WriteLine($"  {format}, minima of {Repeats + 2} interleaved passes: linear layers of all blocks Vector256 {n:F2} ms, Vector512 {w:F2} ms ({n / w:F2}x); " +
            $"head Vector256 {narrow[^1]:F2} ms, Vector512 {wide[^1]:F2} ms ({narrow[^1] / wide[^1]:F2}x)");
        for (int i = 0; i < layers.Length; i++)
        {
            Console.WriteLine($"    {layers[i].Inputs}->{layers[i].Outputs} x{copies}: {narrow[i]:F2} / {wide[i]:F2} ms");
        }
    }

    /// <summary>
    /// The cost of the kernels' instructions without the memory system's limit or other processes' load: each linear
    /// shape on one thread, timed in that thread's CPU time (time slices lost to other processes do not count), weights
    /// read from cache where they fit (1 copy), as bytes of weights per CPU second.
    /// </summary>
    private static void CompareWidthsOnOneThread()
    {
        Console.WriteLine("One thread, thread CPU time, weights from memory (copies of 200 MB in all): GB of weights per CPU second, Vector256 / Vector512");
        foreach (var format in new[] { WeightFormat.Float32, WeightFormat.Float16, WeightFormat.BFloat16 })
        {
            foreach (var (outputs, inputs) in new[] { (3072, 768), (768, 3072), (4864, 896), (151936, 896) })
            {
                double bytes = (double)outputs * inputs * ElementSize(format);
                int copies = (int)Math.Ceiling(200e6 / bytes);
                using var operands = Allocate(format, outputs, inputs, copies);
                double narrow = double.MaxValue, wide = double.MaxValue;
                for (int r = 0; r < 7; r++)
                {
                    narrow = Math.Min(narrow, operands.CpuTimeAll(MatrixVectorKernel.VectorWidth.Vector256));
                    wide = Math.Min(wide, operands.CpuTimeAll(MatrixVectorKernel.VectorWidth.Widest));
                }

                Console.WriteLine($"  {format} {inputs}->{outputs} x{copies}: {bytes * copies / narrow / 1e9:F1} / {bytes * copies / wide / 1e9:F1} GB/s ({narrow / wide:F2}x)");
            }
        }


        Console.WriteLine("One thread, thread CPU time, one weight copy (in cache where it fits): GB of weights per CPU second, Vector256 / Vector512");
        foreach (var format in new[] { WeightFormat.Float32, WeightFormat.Float16, WeightFormat.BFloat16 })
        {
            foreach (var (outputs, inputs) in new[] { (768, 768), (3072, 768), (768, 3072), (4864, 896) })
            {
                using var operands = Allocate(format, outputs, inputs, 1);
                double bytes = (double)outputs * inputs * ElementSize(format);
                double narrow = double.MaxValue, wide = double.MaxValue;
                for (int r = 0; r < 30; r++)
                {
                    narrow = Math.Min(narrow, operands.CpuTime(MatrixVectorKernel.VectorWidth.Vector256, 8));
                    wide = Math.Min(wide, operands.CpuTime(MatrixVectorKernel.VectorWidth.Widest, 8));
                }

                Console.WriteLine($"  {format} {inputs}->{outputs}: {bytes * 8 / narrow / 1e9:F1} / {bytes * 8 / wide / 1e9:F1} GB/s ({narrow / wide:F2}x)");
            }
        }
    }

    private static Operands Allocate(WeightFormat format, int outputs, int inputs, int copies) => new(format, outputs, inputs, copies);

    /// <summary>Random weights (<paramref name="copies"/> distinct matrices), an input and an output for one linear layer.</summary>
    private sealed class Operands(WeightFormat format, int outputs, int inputs, int copies) : IDisposable
    {
        private readonly nint[] _weights = [.. Enumerable.Range(0, copies).Select(c => RandomWeights(format, (long)outputs * inputs, c))];
        private readonly float* _x = RandomInput(inputs);
        private readonly float* _y = (float*)NativeMemory.AlignedAlloc((nuint)outputs * sizeof(float), 64);

        /// <summary>One pass over every copy, in milliseconds.</summary>
        public double Time(MatrixVectorKernel.VectorWidth width)
        {
            long start = Stopwatch.GetTimestamp();
            foreach (var w in _weights)
            {
                if (outputs > 50000)
                {
                    MatrixVectorKernel.Multiply(w, format, outputs, inputs, (nint)_x, 0, (nint)_y, width: width);
                }
                else
                {
                    BatchedMatrixKernel.Multiply(w, format, outputs, inputs, _x, 1, 0, _y, width);
                }
            }

            return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        /// <summary><paramref name="passes"/> passes of the first copy on this thread (no parallel split), in seconds of this thread's CPU time.</summary>
        public double CpuTime(MatrixVectorKernel.VectorWidth width, int passes)
        {
            double start = ThreadCpuTime.Seconds();
            for (int p = 0; p < passes; p++)
            {
                BatchedMatrixKernel.Multiply(_weights[0], format, outputs, inputs, _x, 1, 0, _y, width, parallel: false);
            }

            return ThreadCpuTime.Seconds() - start;
        }

        /// <summary>One pass over every copy on this thread (no parallel split), in seconds of this thread's CPU time.</summary>
        public double CpuTimeAll(MatrixVectorKernel.VectorWidth width)
        {
            double start = ThreadCpuTime.Seconds();
            foreach (var w in _weights)
            {
                BatchedMatrixKernel.Multiply(w, format, outputs, inputs, _x, 1, 0, _y, width, parallel: false);
            }

            return ThreadCpuTime.Seconds() - start;
        }

        public void Dispose()
        {
            foreach (var w in _weights)
            {
                NativeMemory.AlignedFree((void*)w);
            }

            NativeMemory.AlignedFree(_x);
            NativeMemory.AlignedFree(_y);
        }

        private static nint RandomWeights(WeightFormat format, long elements, int seed)
        {
            long bytes = elements * ElementSize(format);
            var w = (nint)NativeMemory.AlignedAlloc((nuint)bytes, 64);
            var random = new Random(seed);
            var span = new Span<ushort>((void*)w, (int)(bytes / 2));
            for (int i = 0; i < span.Length; i++)
            {
                // Small finite numbers in every format (float16 ~2^-7, bfloat16 and float32 tiny): the kernels' speed does not depend on the values.
                span[i] = (ushort)(0x2000 + random.Next(0x1000) + (random.Next(2) << 15));
            }

            return w;
        }

        private static float* RandomInput(int inputs)
        {
            var x = (float*)NativeMemory.AlignedAlloc((nuint)inputs * sizeof(float), 64);
            var random = new Random(5);
            for (int i = 0; i < inputs; i++)
            {
                x[i] = (float)random.NextDouble() - 0.5f;
            }

            return x;
        }
    }

    private static void ProfileQwen(ScalarType dtype)
    {
        using var model = Qwen25HalfBShape.CreateRandom(dtype);
        using var cache = model.CreateKvCache();
        using (model.ComputeHiddenStates(arange(16, ScalarType.Int64), cache))
        {
        }

        using var token = tensor(new long[] { 42 });
        double step = Median(() =>
        {
            using var logits = model.ComputeLogits(token, cache);
            cache.Rewind(16);
        });
        double hidden = Median(() =>
        {
            using var states = model.ComputeHiddenStates(token, cache);
            cache.Rewind(16);
        });
        var format = Format(dtype);
        int d = 896, inner = 4864;
        double q = Linear(format, d, d, 24), k = Linear(format, 128, d, 24), v = Linear(format, 128, d, 24), o = Linear(format, d, d, 24);
        double gate = Linear(format, inner, d, 24), up = Linear(format, inner, d, 24), down = Linear(format, d, inner, 24);
        double head = Linear(format, 151936, d, 1);
        long bytes = Qwen25HalfBShape.WeightBytes(model);
        Console.WriteLine($"Qwen2.5-0.5B shape {dtype}, position 16, medians of {Repeats} (ms):");
        Console.WriteLine($"  step (ComputeLogits)            {step:F2}   bound {Bound(bytes):F2}");
        Console.WriteLine($"  hidden states (24 layers)       {hidden:F2}");
        Console.WriteLine($"    q, k, v, o x24                {q:F2} {k:F2} {v:F2} {o:F2}");
        Console.WriteLine($"    gate, up, down x24            {gate:F2} {up:F2} {down:F2}");
        Console.WriteLine($"    rest (attention, norms, rope, SwiGLU) {hidden - (q + k + v + o + gate + up + down):F2}");
        Console.WriteLine($"  head 896->151936 (kernel alone) {head:F2}");
        CompareWidths(format, [(d, d), (128, d), (128, d), (d, d), (inner, d), (inner, d), (d, inner)], 24, 151936, d);
    }

    /// <summary>The linear layer alone, B = 1, on <paramref name="copies"/> distinct random weights in turn (total time of one pass).</summary>
    private static double Linear(WeightFormat format, int outputs, int inputs, int copies, MatrixVectorKernel.VectorWidth width = MatrixVectorKernel.VectorWidth.Widest)
    {
        long elements = (long)outputs * inputs;
        int size = ElementSize(format);
        var weights = new nint[copies];
        var random = new Random(3);
        for (int c = 0; c < copies; c++)
        {
            weights[c] = (nint)NativeMemory.AlignedAlloc((nuint)(elements * size), 64);
            var span = new Span<ushort>((void*)weights[c], (int)(elements * size / 2));
            for (int i = 0; i < span.Length; i++)
            {
                span[i] = (ushort)(0x2000 + random.Next(0x1000) + (random.Next(2) << 15));
            }
        }

        float* x = (float*)NativeMemory.AlignedAlloc((nuint)inputs * sizeof(float), 64);
        float* y = (float*)NativeMemory.AlignedAlloc((nuint)outputs * sizeof(float), 64);
        for (int i = 0; i < inputs; i++)
        {
            x[i] = (float)random.NextDouble() - 0.5f;
        }

        try
        {
            return Median(() =>
            {
                foreach (var w in weights)
                {
                    if (outputs > 50000)
                    {
                        MatrixVectorKernel.Multiply(w, format, outputs, inputs, (nint)x, 0, (nint)y, width: width);
                    }
                    else
                    {
                        BatchedMatrixKernel.Multiply(w, format, outputs, inputs, x, 1, 0, y, width);
                    }
                }
            });
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

    private static double Bound(long bytes)
    {
        var stream = MemoryBandwidth.Stream(bytes / sizeof(float));
        return Median(() => MemoryBandwidth.Sum(stream));
    }

    /// <summary>
    /// With one processor (<c>DOTNET_PROCESSOR_COUNT=1</c>: the kernels then run on the calling thread) the least CPU
    /// time of this thread over the repeats, which other processes' load does not inflate; otherwise the median wall time.
    /// </summary>
    private static double Median(Action action)
    {
        if (Environment.ProcessorCount == 1)
        {
            action();
            double least = double.MaxValue;
            for (int i = 0; i < Repeats; i++)
            {
                double start = ThreadCpuTime.Seconds();
                action();
                least = Math.Min(least, (ThreadCpuTime.Seconds() - start) * 1000);
            }

            return least;
        }

        action();
        action();
        var times = new double[Repeats];
        for (int i = 0; i < Repeats; i++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        Array.Sort(times);
        return times[Repeats / 2];
    }

    private static WeightFormat Format(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => WeightFormat.Float32,
        ScalarType.Float16 => WeightFormat.Float16,
        _ => WeightFormat.BFloat16,
    };

    private static int ElementSize(WeightFormat format) => format == WeightFormat.Float32 ? 4 : 2;
}
