using BenchmarkDotNet.Attributes;
using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// Loading a bfloat16 folder of Qwen2.5-0.5B's shape (about 1 GB in two shards) with <see cref="PretrainedModel.LoadModel"/>,
/// against reading the same files into memory (issue 17: at most 2x). Both read from the page cache after the first run.
/// </summary>
[InProcessShortJob]
public class LlamaLoadBenchmarks
{
    private string _folder = null!;
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

        _buffer = new byte[1 << 24];
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_folder, recursive: true);

    /// <summary>Reads every weights file once into a reused 16 MiB buffer.</summary>
    [Benchmark(Baseline = true)]
    public long ReadFiles()
    {
        long total = 0;
        foreach (string file in Directory.GetFiles(_folder, "*.safetensors"))
        {
            using var stream = File.OpenRead(file);
            int read;
            while ((read = stream.Read(_buffer)) > 0)
            {
                total += read;
            }
        }

        return total;
    }

    /// <summary>Loads the model (headers, every tensor straight into its parameter, finiteness checks).</summary>
    [Benchmark]
    public long Load()
    {
        using var model = PretrainedModel.LoadModel(_folder);
        return model.VocabularySize;
    }
}
