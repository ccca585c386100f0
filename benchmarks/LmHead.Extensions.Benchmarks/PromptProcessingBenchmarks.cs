using BenchmarkDotNet.Attributes;
using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// Prompt processing (prefill) of a 512-token prompt into a fresh cache on a GPT-2-small-shaped model (random weights)
/// in float32, float16 and bfloat16: the libtorch path, which computes half-precision models in float32 on the CPU.
/// </summary>
[InProcessLongOperationJob]
public class PromptProcessingBenchmarks
{
    private Gpt2Model _model = null!;
    private Tensor _prompt = null!;

    /// <summary>The dtype of the weights.</summary>
    [Params(ScalarType.Float32, ScalarType.Float16, ScalarType.BFloat16)]
    public ScalarType DType { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _model = Gpt2SmallShape.CreateRandom(DType);
        _prompt = randint(0, Gpt2SmallShape.Config.VocabularySize, [512], generator: new Generator(12));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _prompt.Dispose();
        _model.Dispose();
    }

    /// <summary>The hidden states of all 512 prompt tokens, filling a new cache.</summary>
    [Benchmark]
    public long Prefill512()
    {
        using var cache = _model.CreateKvCache();
        using var hidden = _model.ComputeHiddenStates(_prompt, cache);
        return cache.Length;
    }
}
