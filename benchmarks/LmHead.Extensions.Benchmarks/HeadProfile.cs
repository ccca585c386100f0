using System.Runtime.InteropServices;
using LmHead.Extensions.Decoding.Cpu;
using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Benchmarks;

/// <summary>Experiment: the GPT-2 head on one thread, MatrixVectorKernel against BatchedMatrixKernel (B = 1), thread CPU time.</summary>
internal static unsafe class HeadProfile
{
    internal static void Run()
    {
        const int rows = 50257, columns = 768, copies = 3;
        foreach (var format in new[] { WeightFormat.Float16, WeightFormat.BFloat16, WeightFormat.Float32 })
        {
            int size = format == WeightFormat.Float32 ? 4 : 2;
            long bytes = (long)rows * columns * size;
            var weights = new nint[copies];
            var random = new Random(3);
            for (int c = 0; c < copies; c++)
            {
                weights[c] = (nint)NativeMemory.AlignedAlloc((nuint)bytes, 64);
                var span = new Span<ushort>((void*)weights[c], (int)(bytes / 2));
                for (int i = 0; i < span.Length; i++)
                {
                    span[i] = (ushort)(0x2000 + random.Next(0x1000) + (random.Next(2) << 15));
                }
            }

            var x = (float*)NativeMemory.AlignedAlloc(columns * sizeof(float), 64);
            for (int i = 0; i < columns; i++)
            {
                x[i] = (float)(random.NextDouble() - 0.5);
            }

            var y = (float*)NativeMemory.AlignedAlloc(rows * sizeof(float), 64);
            double vector = double.MaxValue, batched = double.MaxValue;
            for (int r = 0; r < 9; r++)
            {
                double start = ThreadCpuTime.Seconds();
                foreach (var w in weights)
                {
                    MatrixVectorKernel.Multiply(w, format, rows, columns, (nint)x, 0, (nint)y, parallel: false);
                }

                vector = Math.Min(vector, ThreadCpuTime.Seconds() - start);
                start = ThreadCpuTime.Seconds();
                foreach (var w in weights)
                {
                    BatchedMatrixKernel.Multiply(w, format, rows, columns, x, 1, 0, y, parallel: false);
                }

                batched = Math.Min(batched, ThreadCpuTime.Seconds() - start);
            }

            Console.WriteLine($"{format} head {columns}->{rows}, one thread, CPU time per head: MatrixVectorKernel {vector * 1000 / copies:F2} ms ({bytes * copies / vector / 1e9:F1} GB/s), BatchedMatrixKernel B=1 {batched * 1000 / copies:F2} ms ({bytes * copies / batched / 1e9:F1} GB/s)");
            foreach (var w in weights)
            {
                NativeMemory.AlignedFree((void*)w);
            }

            NativeMemory.AlignedFree(x);
            NativeMemory.AlignedFree(y);
        }
    }
}
