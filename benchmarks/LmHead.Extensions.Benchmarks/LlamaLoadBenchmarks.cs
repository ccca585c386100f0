using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// Loading a bfloat16 folder of Qwen2.5-0.5B's shape (about 1 GB in two shards) with <see cref="PretrainedModel.LoadModel"/>,
/// against reading the same files into memory (issue 17: at most 2x), in two forms: into a reused 16 MiB buffer (the
/// cheapest read there is: no page of it is new) and into fresh memory the reader owns, one allocation per file
/// (as <c>File.ReadAllBytes</c> or <c>cat</c> into a buffer would: every page is new). All read from the page cache
/// after the first run.
/// </summary>
[InProcessShortJob]
public class LlamaLoadBenchmarks
{
    private string _folder = null!;
    private string[] _files = null!;
    private byte[] _buffer = null!;

    [GlobalSetup]
    public void Setup()
    {
        _folder = Path.Combine(Path.GetTempPath(), "lmhead-bench-qwen25-0.5b-bf16");
        Directory.CreateDirectory(_folder);
        using (var model = Qwen25HalfBShape.CreateRandom(ScalarType.BFloat16))
        {
            LlamaPretrained.Save(model, _folder, maxShardBytes: 600L << 20);
        }

        _files = Directory.GetFiles(_folder, "*.safetensors");
        _buffer = new byte[1 << 24];
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_folder, recursive: true);

    /// <summary>Reads every weights file once into a reused 16 MiB buffer.</summary>
    [Benchmark(Baseline = true)]
    public long ReadFiles() => ReadInto(_files, _buffer);

    /// <summary>Reads every weights file into a new native buffer of its size, then frees it.</summary>
    [Benchmark]
    public long ReadFilesFresh() => ReadFresh(_files);

    /// <summary>Loads the model (headers, every tensor straight into its parameter, finiteness checks).</summary>
    [Benchmark]
    public long Load()
    {
        using var model = PretrainedModel.LoadModel(_folder);
        return model.VocabularySize;
    }

    /// <summary>One thread reading each file through <paramref name="buffer"/>; the bytes read.</summary>
    internal static long ReadInto(string[] files, byte[] buffer)
    {
        long total = 0;
        foreach (string file in files)
        {
            using var stream = File.OpenRead(file);
            int read;
            while ((read = stream.Read(buffer)) > 0)
            {
                total += read;
            }
        }

        return total;
    }

    /// <summary>
    /// One thread reading each file into memory allocated for it (native, so that the allocator returns it to the
    /// system when freed and the next call gets fresh pages again, as a new process would); the bytes read.
    /// </summary>
    internal static unsafe long ReadFresh(string[] files)
    {
        long total = 0;
        foreach (string file in files)
        {
            using var stream = File.OpenRead(file);
            long length = stream.Length;
            byte* memory = (byte*)NativeMemory.Alloc((nuint)length);
            try
            {
                for (long offset = 0; offset < length;)
                {
                    int read = stream.Read(new Span<byte>(memory + offset, (int)Math.Min(int.MaxValue, length - offset)));
                    if (read == 0)
                    {
                        break;
                    }

                    offset += read;
                    total += read;
                }
            }
            finally
            {
                NativeMemory.Free(memory);
            }
        }

        return total;
    }
}
