using static TorchSharp.torch;

namespace LmHead.Extensions.Decoding.Grammar;

/// <summary>
/// A logits stage that sets to -infinity every token whose bytes would take the generated text out of a grammar
/// (JSON, a JSON schema, a regular expression), and allows the end-of-text token only where the text may end.
/// </summary>
/// <remarks>
/// The stage follows <see cref="TokenHistory.GeneratedTokens"/>: it keeps its position in the grammar for the last
/// history it saw and reads only the tokens added since, so one instance per request costs one mask per step; given
/// another history it starts over from that history's tokens (correct, just slower). The grammar and its token masks
/// are shared by every stage built from the same <see cref="CompiledGrammar"/> and <see cref="TokenVocabulary"/>.
/// Thread-safe. The masks are computed over the tokens' bytes, so a character split across tokens is constrained
/// like any other bytes. A batch <c>[B, V]</c> gets the same mask on every row, as every stage gets one history.
/// </remarks>
public sealed class GrammarConstraint : ITokenHistoryStage
{
    private readonly TokenMaskTables _tables;
    private readonly GrammarRuntime _runtime;
    private readonly Lock _gate = new();
    private IReadOnlyList<int>? _followed;
    private int _read;
    private int _lastRead;
    private GrammarState _state;
    private Task? _warming;
    private bool _warmingFailed;

    /// <summary>Creates the stage for one request (or one sequence of calls with a growing history).</summary>
    /// <param name="grammar">The compiled grammar (shared).</param>
    /// <param name="vocabulary">The bytes of the model's tokens.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public GrammarConstraint(CompiledGrammar grammar, TokenVocabulary vocabulary)
    {
        ArgumentNullException.ThrowIfNull(grammar);
        ArgumentNullException.ThrowIfNull(vocabulary);
        Grammar = grammar;
        Vocabulary = vocabulary;
        _runtime = grammar.Runtime;
        _tables = grammar.TablesFor(vocabulary);
        _state = _runtime.Start;
    }

    /// <summary>The grammar.</summary>
    public CompiledGrammar Grammar { get; }

    /// <summary>The vocabulary's token bytes.</summary>
    public TokenVocabulary Vocabulary { get; }

    /// <inheritdoc/>
    public Tensor Apply(Tensor logits) => Apply(logits, TokenHistory.Empty);

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The history holds a token the grammar does not allow where it stands.</exception>
    /// <exception cref="InvalidOperationException">The grammar's text is complete and the vocabulary has no end-of-text token.</exception>
    public Tensor Apply(Tensor logits, TokenHistory history)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(history);
        LogitsGuard.RequireRows(logits, nameof(logits));
        ulong[] mask = AllowedTokens(history);
        int width = checked((int)logits.size(-1));
        var blocked = new bool[width];
        for (int i = 0; i < width; i++)
        {
            blocked[i] = i >= _tables.Vocabulary.Count || (mask[i >> 6] & (1UL << i)) == 0;
        }

        using var scope = NewDisposeScope();
        var blockedTensor = tensor(blocked, device: logits.device);
        return logits.masked_fill(blockedTensor, float.NegativeInfinity).MoveToOuterDisposeScope();
    }

    /// <summary>Whether the text generated in <paramref name="history"/> is complete and nothing may follow it.</summary>
    /// <param name="history">The tokens so far.</param>
    /// <returns><see langword="true"/> when generation should end.</returns>
    /// <exception cref="ArgumentException">The history holds a token the grammar does not allow.</exception>
    public bool IsComplete(TokenHistory history)
    {
        ArgumentNullException.ThrowIfNull(history);
        lock (_gate)
        {
            return Follow(history).IsComplete;
        }
    }

    /// <summary>Whether the text generated in <paramref name="history"/> is a complete sentence (more may still follow).</summary>
    /// <param name="history">The tokens so far.</param>
    /// <returns><see langword="true"/> when the grammar accepts the text as it stands.</returns>
    /// <exception cref="ArgumentException">The history holds a token the grammar does not allow.</exception>
    public bool Accepts(TokenHistory history)
    {
        ArgumentNullException.ThrowIfNull(history);
        lock (_gate)
        {
            return Follow(history).Accepting;
        }
    }

    /// <summary>Sets every disallowed entry of <paramref name="row"/> (one row of logits) to -infinity, for the CPU fast path.</summary>
    internal void MaskRow(Span<float> row, TokenHistory history) => MaskRow(row, AllowedTokens(history));

    /// <summary>Sets every entry of <paramref name="row"/> that <paramref name="mask"/> does not allow to -infinity.</summary>
    internal void MaskRow(Span<float> row, ulong[] mask)
    {
        int covered = Math.Min(row.Length, _tables.Vocabulary.Count);
        for (int w = 0; w * 64 < covered; w++)
        {
            ulong word = mask[w];
            if (word == ulong.MaxValue)
            {
                continue;
            }

            int start = w * 64, end = Math.Min(start + 64, covered);
            if (word == 0)
            {
                row[start..end].Fill(float.NegativeInfinity);
                continue;
            }

            for (int i = start; i < end; i++)
            {
                if ((word & (1UL << i)) == 0)
                {
                    row[i] = float.NegativeInfinity;
                }
            }
        }

        row[covered..].Fill(float.NegativeInfinity);
    }

    /// <summary>The allowed tokens after <paramref name="history"/> as a bit set; never empty.</summary>
    internal ulong[] AllowedTokens(TokenHistory history)
    {
        GrammarState state;
        lock (_gate)
        {
            state = Follow(history ?? TokenHistory.Empty);
        }

        var mask = _tables.MaskFor(state);
        if (state.IsComplete && _tables.Vocabulary.EndOfTextTokenId is null)
        {
            throw new InvalidOperationException("The grammar's text is complete and nothing may follow it, and the vocabulary has no end-of-text token to end with; stop generating here (IsComplete tells).");
        }

        if (TokenMaskTables.CountAllowed(mask) == 0)
        {
            // Cannot happen for a grammar whose every byte path can be completed with single-byte tokens; reported, never hidden.
            throw new InvalidOperationException("No token of the vocabulary can continue the grammar here; the vocabulary lacks the tokens for every byte the grammar allows.");
        }

        return mask;
    }

    /// <summary>
    /// For tests: called on the thread pool before a background warm-up (<see cref="IsReadyToDraw"/>) builds the tables
    /// of a grammar's state, with that grammar.
    /// </summary>
    internal static Action<CompiledGrammar>? BackgroundWarmStarting { get; set; }

    /// <summary>
    /// Whether the mask after <paramref name="history"/> can be had at once (its state's node tables exist). When not,
    /// builds them on the thread pool (one warm-up per stage at a time) and calls <paramref name="onReady"/> once done,
    /// so a scheduler can leave this request out of its steps meanwhile instead of stalling every other request: the
    /// first visit of a node walks the whole vocabulary trie (milliseconds each; seconds for a large schema's first
    /// request).
    /// </summary>
    /// <param name="history">The tokens so far.</param>
    /// <param name="onReady">Called (on the thread pool) when a warm-up this call started has finished.</param>
    /// <returns><see langword="true"/> when the next mask costs no table building (or the history is invalid: the step reports it).</returns>
    internal bool IsReadyToDraw(TokenHistory history, Action onReady)
    {
        GrammarState state;
        lock (_gate)
        {
            if (_warming is not null)
            {
                return false;
            }

            if (_warmingFailed)
            {
                return true; // the step builds the tables itself and reports what fails
            }

            try
            {
                state = Follow(history ?? TokenHistory.Empty);
            }
            catch (ArgumentException)
            {
                return true;
            }

            if (_tables.IsWarm(state))
            {
                return true;
            }

            _warming = Task.Run(() =>
            {
                try
                {
                    BackgroundWarmStarting?.Invoke(Grammar);
                    _ = _tables.MaskFor(state);
                }
                catch
                {
                    lock (_gate)
                    {
                        _warmingFailed = true;
                    }

                    throw;
                }
                finally
                {
                    lock (_gate)
                    {
                        _warming = null;
                    }

                    onReady();
                }
            });
            return false;
        }
    }

    /// <summary>Brings the position up to date with <paramref name="history"/>'s generated tokens (call under the lock).</summary>
    private GrammarState Follow(TokenHistory history)
    {
        var generated = history.GeneratedTokens;
        // A list that shrank or changed its last read token is followed again from the start.
        if (!ReferenceEquals(generated, _followed) || generated.Count < _read || (_read > 0 && generated[_read - 1] != _lastRead))
        {
            _followed = generated;
            _read = 0;
            _state = _runtime.Start;
        }

        while (_read < generated.Count)
        {
            int token = generated[_read];
            if (token == _tables.Vocabulary.EndOfTextTokenId && _state.Accepting)
            {
                _read++;
                _lastRead = token;
                continue;
            }

            var next = _runtime.Advance(_state, _tables.Vocabulary.BytesOf(token));
            if (next.IsDead || _tables.Vocabulary.BytesOf(token).IsEmpty)
            {
                _followed = null;
                throw new ArgumentException(
                    $"The generated token {token} (position {_read}) is not allowed by the grammar ({Grammar.Constraint.Kind}) where it stands.", nameof(history));
            }

            _state = next;
            _read++;
            _lastRead = token;
        }

        return _state;
    }
}
