using BenchmarkDotNet.Attributes;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Grammar;
using LmHead.Extensions.Tokenization;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// The per-step cost of a grammar constraint on the GPT-2 vocabulary (V = 50257) beside an unconstrained sampling step
/// (T = 0.7, top-k 50, fast path), and schema compilation. The steps replay the states of a real GPT-2 tokenization of
/// a sample output: "cached" is the steady state of a served schema (every state's mask seen before); "uncached"
/// clears the per-state masks each step (the per-node tables stay), the cost of a state met for the first time.
/// The baseline is one unconstrained decode step of a GPT-2-small-shaped model (124M parameters, random weights,
/// float32, position 16: the hidden state, the head over 50,257 tokens and the sampling), so the Ratio column reads as
/// "share of a decode step"; medians are reported beside the means.
/// </summary>
[MemoryDiagnoser(false)]
[MedianColumn]
[InProcessShortJob]
public class GrammarBenchmarks
{
    private const string NestedSchema = """
        {"type":"object","properties":{"name":{"type":"string","maxLength":40},"age":{"type":"integer","minimum":0,"maximum":150},
         "address":{"type":"object","properties":{"street":{"type":"string"},"zip":{"type":"string","pattern":"^[0-9]{5}$"}},"required":["street","zip"]},
         "tags":{"type":"array","items":{"enum":["red","green","blue"]},"maxItems":5},"scores":{"type":"array","items":{"type":"number"}}},
         "required":["name","age","address"],"additionalProperties":false}
        """;

    private const string NestedSample = """{"name": "Ada Lovelace", "age": 36, "address": {"street": "12 St James's Square", "zip": "10001"}, "tags": ["red", "blue"], "scores": [1.5, 2, 3E+2]}""";

    private const string JsonSample = """{"id": 12, "items": [{"name": "tea", "price": 2.5, "tags": ["hot", "drink"]}, {"name": "cake", "price": 4, "ok": true, "note": null}]}""";

    private TokenMaskTables _tables = null!;
    private GrammarState[] _states = null!;
    private float[] _logits = null!;
    private float[] _row = null!;
    private Tensor _tensor = null!;
    private DecodingPipeline _unconstrained = null!;
    private GrammarConstraint _constraint = null!;
    private int _next;
    private Models.Gpt2Model? _gpt2;
    private Models.Gpt2KvCache? _cache;
    private const int DecodePosition = 16;

    /// <summary>The grammar: any JSON, or the nested schema.</summary>
    [Params("json", "nested schema")]
    public string Grammar { get; set; } = "json";

    [GlobalSetup]
    public void Setup()
    {
        var constraint = Grammar == "json" ? OutputConstraint.Json() : OutputConstraint.JsonSchema(NestedSchema);
        string sample = Grammar == "json" ? JsonSample : NestedSample;
        var grammar = CompiledGrammar.For(constraint);
        var vocabulary = TokenVocabulary.FromTokenizer(Gpt2Tokenizer.Default, Gpt2Tokenizer.EndOfTextTokenId);
        _tables = grammar.TablesFor(vocabulary);
        _constraint = new GrammarConstraint(grammar, vocabulary);
        var states = new List<GrammarState>();
        var state = grammar.Runtime.Start;
        foreach (int id in Gpt2Tokenizer.Default.EncodeToIds(sample))
        {
            states.Add(state);
            state = grammar.Runtime.Advance(state, vocabulary.BytesOf(id));
            if (state.IsDead)
            {
                throw new InvalidOperationException($"The sample does not follow the grammar at token {id}.");
            }
        }

        _states = [.. states];
        foreach (var s in _states)
        {
            _tables.MaskFor(s); // warm: every node's table and every state's mask
        }

        using var logits = randn(Gpt2Tokenizer.VocabularySize, generator: new Generator(1)).mul(3);
        _logits = logits.data<float>().ToArray();
        _row = new float[_logits.Length];
        _tensor = tensor(_logits);
        _unconstrained = DecodingPipeline.Create(new DecodingOptions { Temperature = 0.7f, TopK = 50, Seed = 1 });
    }

    /// <summary>Setup of <see cref="Gpt2SmallDecodeStep"/>: the model, its cache filled to <see cref="DecodePosition"/>.</summary>
    [GlobalSetup(Target = nameof(Gpt2SmallDecodeStep))]
    public void SetupDecodeStep()
    {
        Setup();
        _gpt2 = Gpt2SmallShape.CreateRandom();
        _cache = _gpt2.CreateKvCache();
        var random = new Random(12);
        for (int i = 0; i < DecodePosition; i++)
        {
            using var hidden = _gpt2.ComputeLastHiddenStates([_cache], [[random.Next(Gpt2Tokenizer.VocabularySize)]]);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _tensor.Dispose();
        _cache?.Dispose();
        _gpt2?.Dispose();
    }

    /// <summary>One unconstrained GPT-2-small decode step: hidden state of one token, head projection, sampling (the baseline).</summary>
    [Benchmark(Baseline = true)]
    public int Gpt2SmallDecodeStep()
    {
        using var scope = NewDisposeScope();
        var hidden = _gpt2!.ComputeLastHiddenStates([_cache!], [[464]]);
        using var projector = _gpt2.GetOutputEmbeddings();
        var logits = Generation.BatchedHeadProjection.Project(projector, hidden);
        int token = _unconstrained.NextToken(logits[0]).TokenId;
        _cache!.Rewind(DecodePosition);
        return token;
    }

    /// <summary>One unconstrained sampling step (fast path) on a ready row: what the mask is added to.</summary>
    [Benchmark]
    public int UnconstrainedStep() => _unconstrained.NextToken(_tensor).TokenId;

    /// <summary>The mask of the next state (cached) applied to a copy of the row: the constraint's whole per-step cost.</summary>
    [Benchmark]
    public float MaskStepCached()
    {
        var state = _states[_next++ % _states.Length];
        _logits.CopyTo(_row, 0);
        ApplyMask(_tables.MaskFor(state), _row);
        return _row[0];
    }

    /// <summary>As <see cref="MaskStepCached"/> for a state met for the first time (per-node tables precomputed).</summary>
    [Benchmark]
    public float MaskStepUncached()
    {
        var state = _states[_next++ % _states.Length];
        _tables.ClearStateMasks();
        _logits.CopyTo(_row, 0);
        ApplyMask(_tables.MaskFor(state), _row);
        return _row[0];
    }

    /// <summary>Compiling the grammar (no vocabulary work).</summary>
    [Benchmark]
    public int Compile() => CompiledGrammar.Compile(Grammar == "json" ? OutputConstraint.Json() : OutputConstraint.JsonSchema(NestedSchema)).NodeCount;

    /// <summary>Compiling and precomputing every node and state mask the sample meets on the GPT-2 vocabulary: a new schema's first request.</summary>
    [Benchmark]
    public int CompileAndWarmUp()
    {
        var grammar = CompiledGrammar.Compile(Grammar == "json" ? OutputConstraint.Json() : OutputConstraint.JsonSchema(NestedSchema));
        var tables = grammar.TablesFor(_tables.Vocabulary);
        var state = grammar.Runtime.Start;
        string sample = Grammar == "json" ? JsonSample : NestedSample;
        int allowed = 0;
        foreach (int id in Gpt2Tokenizer.Default.EncodeToIds(sample))
        {
            allowed += TokenMaskTables.CountAllowed(tables.MaskFor(state));
            state = grammar.Runtime.Advance(state, _tables.Vocabulary.BytesOf(id));
        }

        return allowed;
    }

    private void ApplyMask(ulong[] mask, float[] row)
    {
        // The stage's own row masking (GrammarConstraint.MaskRow) on a state: the same loop.
        _constraint.MaskRow(row, mask);
    }
}
