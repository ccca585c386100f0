using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace LmHead.Extensions.Decoding.Grammar;

/// <summary>
/// An <see cref="OutputConstraint"/> compiled into a byte-level pushdown automaton, with its token masks per
/// vocabulary. Immutable and thread-safe: one instance serves every request (each request keeps its own position in a
/// <see cref="GrammarConstraint"/>), and <see cref="For"/> caches instances by constraint.
/// </summary>
public sealed class CompiledGrammar
{
    private const int MaxCachedGrammars = 256;
    private static readonly ConcurrentDictionary<OutputConstraint, Lazy<CompiledGrammar>> Cache = new();
    private readonly ConditionalWeakTable<TokenVocabulary, TokenMaskTables> _tables = [];

    private CompiledGrammar(OutputConstraint constraint, ByteAutomaton automaton)
    {
        automaton.Freeze();
        Constraint = constraint;
        Runtime = new GrammarRuntime(automaton);
    }

    /// <summary>The constraint this grammar was compiled from.</summary>
    public OutputConstraint Constraint { get; }

    /// <summary>How many nodes the automaton has (a measure of the grammar's size).</summary>
    public int NodeCount => Runtime.Automaton.NodeCount;

    internal GrammarRuntime Runtime { get; }

    /// <summary>Compiles <paramref name="constraint"/>, or returns the grammar compiled for an equal constraint before.</summary>
    /// <param name="constraint">The constraint.</param>
    /// <returns>The grammar.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="constraint"/> is null.</exception>
    /// <exception cref="ArgumentException">The schema is not valid JSON or uses something outside the supported subset, or the pattern is outside the regex subset (the message names the keyword and its JSON path, or the construct and its position).</exception>
    public static CompiledGrammar For(OutputConstraint constraint)
    {
        ArgumentNullException.ThrowIfNull(constraint);
        if (Cache.Count >= MaxCachedGrammars)
        {
            Cache.Clear();
        }

        var lazy = Cache.GetOrAdd(constraint, c => new Lazy<CompiledGrammar>(() => Compile(c)));
        try
        {
            return lazy.Value;
        }
        catch (ArgumentException)
        {
            // A bad schema is not cached: the next call reports it again.
            Cache.TryRemove(new KeyValuePair<OutputConstraint, Lazy<CompiledGrammar>>(constraint, lazy));
            throw;
        }
    }

    /// <summary>Compiles without the cache.</summary>
    /// <param name="constraint">The constraint.</param>
    /// <returns>A new grammar.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="constraint"/> is null.</exception>
    /// <exception cref="ArgumentException">As <see cref="For"/>.</exception>
    public static CompiledGrammar Compile(OutputConstraint constraint)
    {
        ArgumentNullException.ThrowIfNull(constraint);
        try
        {
            return new CompiledGrammar(constraint, Build(constraint));
        }
        catch (ArgumentException ex) when (ex.ParamName is null)
        {
            throw new ArgumentException(ex.Message, nameof(constraint), ex);
        }
    }

    private static ByteAutomaton Build(OutputConstraint constraint)
    {
        var automaton = new ByteAutomaton();
        int root = automaton.AddRule();
        switch (constraint.Kind)
        {
            case OutputConstraintKind.Json:
                automaton.Emit(root, new JsonGrammarRules(automaton, constraint.MaxWhitespace).AnyValue());
                break;
            case OutputConstraintKind.JsonSchema:
                JsonDocument document;
                try
                {
                    document = JsonDocument.Parse(constraint.Text!);
                }
                catch (JsonException ex)
                {
                    throw new ArgumentException($"The JSON schema is not valid JSON: {ex.Message}", nameof(constraint), ex);
                }

                using (document)
                {
                    JsonSchemaCompiler.Compile(automaton, new JsonGrammarRules(automaton, constraint.MaxWhitespace), root, document.RootElement);
                }

                break;
            default:
                automaton.Emit(root, RegexGrammarCompiler.Compile(constraint.Text!, "of the constraint", set => set.ToUtf8()));
                break;
        }

        return automaton;
    }

    /// <summary>Whether <paramref name="text"/> (as UTF-8) is a complete sentence of the grammar.</summary>
    /// <param name="text">The text.</param>
    /// <returns><see langword="true"/> when the grammar accepts the whole text.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is null.</exception>
    public bool Accepts(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Runtime.Advance(Runtime.Start, System.Text.Encoding.UTF8.GetBytes(text)).Accepting;
    }

    /// <summary>Whether <paramref name="text"/> (as UTF-8) can be continued into a sentence of the grammar.</summary>
    /// <param name="text">The text.</param>
    /// <returns><see langword="true"/> when some continuation (maybe none) completes it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is null.</exception>
    public bool AcceptsPrefix(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var state = Runtime.Advance(Runtime.Start, System.Text.Encoding.UTF8.GetBytes(text));
        return !state.IsDead;
    }

    /// <summary>The token mask tables of this grammar over <paramref name="vocabulary"/>, built once and shared.</summary>
    internal TokenMaskTables TablesFor(TokenVocabulary vocabulary) => _tables.GetValue(vocabulary, v => new TokenMaskTables(Runtime, v));
}
