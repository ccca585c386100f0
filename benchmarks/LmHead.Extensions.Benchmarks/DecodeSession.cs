using LmHead.Extensions.Decoding;
using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// The profiling helpers' decode step: a random GPT-2-small-shaped model, its head, a cache filled with 16 tokens, and
/// T 0.7 / top-k 50 sampling; <see cref="Step"/> decodes one token at position 16 (or the position given) and rewinds the cache.
/// </summary>
internal sealed class DecodeSession : IDisposable
{
    public const int Position = 16;

    private readonly SamplingRandom _random = new(7);

    public DecodeSession(ScalarType dtype, int position = Position)
    {
        Model = Gpt2SmallShape.CreateRandom(dtype);
        Projector = Model.GetOutputEmbeddings();
        Cache = Model.CreateKvCache();
        StartPosition = position;
        using (Model.ComputeHiddenStates(arange(position, ScalarType.Int64).remainder(1000), Cache))
        {
        }
    }

    public Gpt2Model Model { get; }

    /// <summary>The position of the token <see cref="Step"/> decodes (the cache's length before it).</summary>
    public int StartPosition { get; }

    public LogitsProjector Projector { get; }

    public KvCache Cache { get; }

    public DecodingPipeline Pipeline { get; } = new DecodingPipelineBuilder().UseTemperature(0.7f).UseTopK(50).Build();

    public Tensor Token { get; } = tensor(new long[] { 42 });

    /// <summary>One token through the model, the head and the sampler; the cache is rewound to <see cref="StartPosition"/> after.</summary>
    public void Step()
    {
        using var scope = NewDisposeScope();
        var hidden = Model.ComputeHiddenStates(Token, Cache);
        using var logits = Projector.Project(hidden[0]);
        Sample(logits);
        Cache.Rewind(StartPosition);
    }

    /// <summary>Samples a token from <paramref name="logits"/> with the session's pipeline and seeded random source.</summary>
    public int Sample(Tensor logits) => Pipeline.NextToken(logits, _random).TokenId;

    public void Dispose()
    {
        Token.Dispose();
        Cache.Dispose();
        Projector.Dispose();
        Model.Dispose();
    }
}
