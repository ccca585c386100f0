using System.Diagnostics;
using System.Runtime.InteropServices;
using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// Not a benchmark: where loading a Qwen2.5-0.5B-shaped bfloat16 folder spends its time (<c>--profile-load</c>), for
/// docs/benchmarks.md. Times each part of <see cref="PretrainedModel.LoadModel"/> on its own (parsing config.json and
/// the headers, allocating the parameters, touching their fresh pages, the NaN/infinity scan) beside the whole load and
/// the two file-read references (a reused buffer; fresh memory per file), each the median of repeated runs.
/// </summary>
internal static unsafe class LoadProfile
{
    private const int Repeats = 9;

    internal static void Run()
    {
        string folder = Path.Combine(Path.GetTempPath(), "lmhead-profile-qwen25-0.5b-bf16");
        Directory.CreateDirectory(folder);
        using (var model = Qwen25HalfBShape.CreateRandom(ScalarType.BFloat16))
        {
            LlamaPretrained.Save(model, folder, maxShardBytes: 600L << 20);
        }

        try
        {
            string[] files = Directory.GetFiles(folder, "*.safetensors");
            long bytes = files.Sum(f => new FileInfo(f).Length);
            Console.WriteLine($"folder {bytes / (1 << 20)} MiB in {files.Length} files; processors {Environment.ProcessorCount}; load average {LoadAverage()}");
            var buffer = new byte[1 << 24];
            Report("read files into a reused 16 MiB buffer (1 thread)", () => LlamaLoadBenchmarks.ReadInto(files, buffer));
            Report("read files into fresh memory (1 thread)", () => LlamaLoadBenchmarks.ReadFresh(files));
            Report("the same, each 1 MiB read scanned for NaN/infinity (1 thread)", () => ReadAndScan(files, buffer));
            Report("config.json + headers", () =>
            {
                GC.KeepAlive(LlamaConfig.Load(Path.Combine(folder, "config.json")));
                foreach (string file in files)
                {
                    GC.KeepAlive(SafeTensorsFile.ReadHeader(file, out _));
                }
            });
            Report("allocate the parameters (empty), dispose", () =>
            {
                using var model = new LlamaModel(Qwen25HalfBShape.Config, ScalarType.BFloat16, null, initialise: false);
            });
            Report("allocate, advise 2 MiB pages, write every page, dispose", () =>
            {
                using var model = new LlamaModel(Qwen25HalfBShape.Config, ScalarType.BFloat16, null, initialise: false);
                foreach (var p in model.parameters())
                {
                    TransparentHugePages.Advise(p);
                    var span = p.bytes;
                    for (int i = 0; i < span.Length; i += 4096)
                    {
                        span[i] = 0;
                    }
                }
            });
            Report("allocate, advise, read each tensor and scan it (1 thread), dispose", () =>
            {
                using var model = new LlamaModel(Qwen25HalfBShape.Config, ScalarType.BFloat16, null, initialise: false);
                var stored = files.SelectMany(f => SafeTensorsFile.ReadHeader(f, out long start).Select(e => (File: f, Start: start, Entry: e)))
                    .ToDictionary(t => t.Entry.Name);
                var streams = files.ToDictionary(f => f, f => File.OpenRead(f));
                foreach (var (name, p) in model.named_parameters())
                {
                    var (file, start, entry) = stored[name];
                    TransparentHugePages.Advise(p);
                    var stream = streams[file];
                    stream.Position = start + entry.Begin;
                    var target = p.bytes;
                    for (int offset = 0; offset < target.Length; offset += 1 << 20)
                    {
                        var chunk = target.Slice(offset, Math.Min(1 << 20, target.Length - offset));
                        stream.ReadExactly(chunk);
                        GC.KeepAlive(LlamaWeightLoader.CountNonFinite(MemoryMarshal.Cast<byte, ushort>(chunk), (ushort)0x7F80));
                    }
                }

                foreach (var stream in streams.Values)
                {
                    stream.Dispose();
                }
            });
            Report("map each file (from_file), a view per tensor, scan it (1 thread)", () =>
            {
                using var scope = NewDisposeScope();
                long bad = 0;
                foreach (string file in files)
                {
                    var entries = SafeTensorsFile.ReadHeader(file, out long start);
                    var mapped = from_file(file, shared: false, size: new FileInfo(file).Length / 2, dtype: ScalarType.BFloat16);
                    foreach (var entry in entries)
                    {
                        var view = mapped.narrow(0, (start + entry.Begin) / 2, (entry.End - entry.Begin) / 2).view(entry.Shape);
                        bad += LlamaWeightLoader.CountNonFinite(MemoryMarshal.Cast<byte, ushort>(view.bytes), (ushort)0x7F80);
                    }
                }

                GC.KeepAlive(bad);
            });
            using (var kept = new LlamaModel(Qwen25HalfBShape.Config, ScalarType.BFloat16, null, initialise: false))
            {
                var parameters = kept.parameters().ToArray();
                foreach (var p in parameters)
                {
                    p.bytes.Clear();
                }

                Report("NaN/infinity scan of every parameter (memory, 1 thread)", () =>
                {
                    long bad = 0;
                    foreach (var p in parameters)
                    {
                        bad += LlamaWeightLoader.CountNonFinite(MemoryMarshal.Cast<byte, ushort>(p.bytes), (ushort)0x7F80);
                    }

                    GC.KeepAlive(bad);
                });
            }

            Report("LoadModel, dispose", () =>
            {
                using var model = PretrainedModel.LoadModel(folder);
            });
            CompareDecodeSteps(folder);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// A decode step of the loaded (mapped, 4 KiB page cache pages) model against a copy of it in anonymous memory
    /// advised to 2 MiB pages, alternating, so that a cost of the mapping's smaller pages to decoding would show.
    /// </summary>
    private static void CompareDecodeSteps(string folder)
    {
        using var mapped = (LlamaModel)PretrainedModel.LoadModel(folder);
        using var copied = new LlamaModel(Qwen25HalfBShape.Config, ScalarType.BFloat16, null, initialise: false);
        using (no_grad())
        {
            var source = mapped.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            foreach (var (name, p) in copied.named_parameters())
            {
                TransparentHugePages.Advise(p);
                p.copy_(source[name]);
            }
        }

        var models = new[] { mapped, copied };
        var caches = models.Select(m => m.CreateKvCache()).ToArray();
        var cpu = new List<double>[] { [], [] };
        using var prompt = arange(16, ScalarType.Int64).unsqueeze(0);
        using var token = tensor(new long[] { 42 }).unsqueeze(0);
        for (int m = 0; m < 2; m++)
        {
            using var logits = models[m].ComputeLogits(prompt, caches[m]);
        }

        for (int step = 0; step < 20; step++)
        {
            for (int m = 0; m < 2; m++)
            {
                var process = Process.GetCurrentProcess();
                var before = process.TotalProcessorTime;
                using (models[m].ComputeLogits(token, caches[m]))
                {
                }

                process.Refresh();
                cpu[m].Add((process.TotalProcessorTime - before).TotalMilliseconds);
            }
        }

        foreach (var cache in caches)
        {
            cache.Dispose();
        }

        string Describe(List<double> times)
        {
            var sorted = times.Order().ToArray();
            return $"process CPU median {sorted[sorted.Length / 2]:0.0} ms (min {sorted[0]:0.0})";
        }

        Console.WriteLine($"{"decode step, mapped weights (as loaded)",-60} {Describe(cpu[0])}");
        Console.WriteLine($"{"decode step, the same weights copied to 2 MiB pages",-60} {Describe(cpu[1])}");
    }

    private static long ReadAndScan(string[] files, byte[] buffer)
    {
        long bad = 0;
        foreach (string file in files)
        {
            using var stream = File.OpenRead(file);
            int read;
            while ((read = stream.Read(buffer, 0, 1 << 20)) > 0)
            {
                bad += LlamaWeightLoader.CountNonFinite(MemoryMarshal.Cast<byte, ushort>(buffer.AsSpan(0, read & ~1)), (ushort)0x7F80);
            }
        }

        return bad;
    }

    private static void Report(string what, Action action)
    {
        action();
        var wall = new double[Repeats];
        var cpu = new double[Repeats];
        for (int i = 0; i < Repeats; i++)
        {
            var process = Process.GetCurrentProcess();
            var cpuBefore = process.TotalProcessorTime;
            long start = Stopwatch.GetTimestamp();
            action();
            wall[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            process.Refresh();
            cpu[i] = (process.TotalProcessorTime - cpuBefore).TotalMilliseconds;
        }

        Array.Sort(wall);
        Array.Sort(cpu);
        Console.WriteLine($"{what,-60} wall median {wall[Repeats / 2],7:0.0} ms (min {wall[0],7:0.0})  process CPU median {cpu[Repeats / 2],7:0.0} ms");
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
}
