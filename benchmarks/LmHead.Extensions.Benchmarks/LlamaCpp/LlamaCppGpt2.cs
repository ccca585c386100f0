using LLama;
using LLama.Common;
using LLama.Native;

namespace LmHead.Extensions.Benchmarks.LlamaCpp;

/// <summary>
/// A GGUF model in llama.cpp (through LLamaSharp) driven token id by token id: one sequence, prompt processing as one
/// batch, single-token decode steps, the KV cache truncated to a length, the logits of a batch position, and llama.cpp's
/// own sampler chain (top-k, temperature, distribution) for the step's token.
/// </summary>
internal sealed class LlamaCppGpt2 : IDisposable
{
    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;
    private readonly LLamaBatch _batch = new();
    private readonly SafeLLamaSamplerChainHandle _sampler;

    /// <summary>Loads a model and creates its context.</summary>
    /// <param name="ggufPath">The GGUF file.</param>
    /// <param name="contextSize">The KV cache size in tokens; also the largest prompt batch.</param>
    /// <param name="cacheType">The KV cache type: F32 for an fp32 model and F16 (llama.cpp's default) for an fp16 one, so each side keeps its keys and values at the weights' precision.</param>
    /// <param name="threads">The threads for decode steps and for prompt batches.</param>
    /// <param name="topK">The sampler chain's top-k.</param>
    /// <param name="temperature">The sampler chain's temperature.</param>
    /// <param name="seed">The distribution sampler's seed.</param>
    public LlamaCppGpt2(string ggufPath, int contextSize, GGMLType cacheType, int threads, int topK, float temperature, uint seed)
    {
        // Touching NativeApi first runs LLamaSharp's loader, which picks the avx2/avx512 build of llama.cpp for this CPU.
        NativeApi.llama_empty_call();
        var parameters = new ModelParams(ggufPath)
        {
            ContextSize = (uint)contextSize,
            BatchSize = (uint)contextSize,
            UBatchSize = (uint)contextSize,
            Threads = threads,
            BatchThreads = threads,
            TypeK = cacheType,
            TypeV = cacheType,
        };
        _weights = LLamaWeights.LoadFromFile(parameters);
        _context = _weights.CreateContext(parameters);
        _sampler = SafeLLamaSamplerChainHandle.Create(LLamaSamplerChainParams.Default());
        _sampler.AddTopK(topK);
        _sampler.AddTemperature(temperature);
        _sampler.AddDistributionSampler(seed);
    }

    /// <summary>The vocabulary size.</summary>
    public int VocabularySize => _context.Vocab.Count;

    /// <summary>Tokenizes text with the GGUF's tokenizer section (no BOS, special tokens as text).</summary>
    public int[] Tokenize(string text) => [.. _context.Tokenize(text, addBos: false, special: false).Select(t => (int)t)];

    /// <summary>Drops the cached keys and values from <paramref name="length"/> on, so the next token goes to that position.</summary>
    public void Truncate(int length) => _context.NativeHandle.MemorySequenceRemove(LLamaSeqId.Zero, length, -1);

    /// <summary>Evaluates tokens at positions <paramref name="start"/>, <paramref name="start"/> + 1, ... as one batch.</summary>
    /// <param name="ids">The token ids.</param>
    /// <param name="start">The position of the first one; the cache must hold exactly <paramref name="start"/> tokens.</param>
    /// <param name="allLogits">Whether every position's logits are kept (for <see cref="Logits"/>); otherwise only the last one's.</param>
    /// <exception cref="InvalidOperationException">llama.cpp's decode failed.</exception>
    public void Evaluate(ReadOnlySpan<int> ids, int start, bool allLogits = false)
    {
        _batch.Clear();
        for (int i = 0; i < ids.Length; i++)
        {
            _batch.Add(ids[i], start + i, LLamaSeqId.Zero, allLogits || i == ids.Length - 1);
        }

        var result = _context.NativeHandle.Decode(_batch);
        if (result != DecodeResult.Ok)
        {
            throw new InvalidOperationException($"llama_decode of {ids.Length} tokens at position {start} returned {result}.");
        }
    }

    /// <summary>The logits of position <paramref name="index"/> of the last batch (a view valid until the next evaluation).</summary>
    public Span<float> Logits(int index) => _context.NativeHandle.GetLogitsIth(index);

    /// <summary>Samples the next token from the last batch's last logits with the sampler chain.</summary>
    public int Sample() => (int)_sampler.Sample(_context.NativeHandle, _batch.TokenCount - 1);

    /// <summary>Releases the sampler, the context and the weights.</summary>
    public void Dispose()
    {
        _sampler.Dispose();
        _context.Dispose();
        _weights.Dispose();
    }
}
