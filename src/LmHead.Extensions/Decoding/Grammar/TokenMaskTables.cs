using System.Collections.Concurrent;
using System.Numerics;

namespace LmHead.Extensions.Decoding.Grammar;

/// <summary>
/// Token masks of one grammar over one vocabulary, in the manner of XGrammar: for every automaton node that reads
/// bytes, a walk of the vocabulary's trie (once, then cached) splits the tokens into those accepted whatever the call
/// stack holds, those rejected whatever it holds, and the few that leave the node's rule and so depend on the stack.
/// A state's mask is then the union of its configurations' accepted sets plus the stack-dependent tokens checked
/// byte by byte; masks are cached by state, so a step whose state was seen before costs one dictionary lookup.
/// </summary>
internal sealed class TokenMaskTables
{
    /// <summary>How many state masks are kept before the cache is cleared (each is V / 8 bytes).</summary>
    public const int MaxCachedStates = 2048;

    private readonly GrammarRuntime _runtime;
    private readonly TokenVocabulary _vocabulary;
    private readonly ConcurrentDictionary<int, NodeMask> _nodes = new();
    private readonly ConcurrentDictionary<GrammarState, ulong[]> _states = new();

    // Transitions seen while walking the trie: a state inside a string meets the same state after every character,
    // so most of a walk's steps become one lookup instead of a closure (measured: 3.1 s to 0.x s to warm a schema).
    private readonly ConcurrentDictionary<(GrammarState, byte), GrammarState> _transitions = new();

    /// <summary>How many transitions are remembered before the memo is cleared.</summary>
    private const int MaxTransitions = 1 << 18;

    /// <summary>Creates the (empty) tables.</summary>
    public TokenMaskTables(GrammarRuntime runtime, TokenVocabulary vocabulary)
    {
        _runtime = runtime;
        _vocabulary = vocabulary;
        Words = (vocabulary.Count + 63) / 64;
    }

    /// <summary>The number of 64-bit words of a mask.</summary>
    public int Words { get; }

    /// <summary>The vocabulary.</summary>
    public TokenVocabulary Vocabulary => _vocabulary;

    private sealed record NodeMask(ulong[] Accepted, int[] Uncertain);

    /// <summary>The tokens allowed in <paramref name="state"/> (bit i of word i / 64); shared, do not modify.</summary>
    public ulong[] MaskFor(GrammarState state)
    {
        if (_states.TryGetValue(state, out var cached))
        {
            return cached;
        }

        var mask = new ulong[Words];
        foreach (var (node, stack) in state.Configurations)
        {
            var tables = _nodes.GetOrAdd(node, Precompute);
            for (int w = 0; w < mask.Length; w++)
            {
                mask[w] |= tables.Accepted[w];
            }

            var single = GrammarRuntime.Single(node, stack);
            foreach (int token in tables.Uncertain)
            {
                if ((mask[token >> 6] & (1UL << token)) == 0 && CanRead(single, _vocabulary.BytesOf(token)))
                {
                    mask[token >> 6] |= 1UL << token;
                }
            }
        }

        if (state.Accepting && _vocabulary.EndOfTextTokenId is { } end)
        {
            mask[end >> 6] |= 1UL << end;
        }

        if (_states.Count >= MaxCachedStates)
        {
            _states.Clear();
        }

        _states[state] = mask;
        return mask;
    }

    /// <summary>
    /// Whether <see cref="MaskFor"/> on <paramref name="state"/> is cheap: its mask is cached, or every node it reads
    /// has its table (what is left is the union and the stack-dependent checks, tens of microseconds).
    /// </summary>
    public bool IsWarm(GrammarState state)
    {
        if (_states.ContainsKey(state))
        {
            return true;
        }

        foreach (var (node, _) in state.Configurations)
        {
            if (!_nodes.ContainsKey(node))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>How many tokens <paramref name="mask"/> allows.</summary>
    public static int CountAllowed(ulong[] mask)
    {
        int count = 0;
        foreach (ulong word in mask)
        {
            count += BitOperations.PopCount(word);
        }

        return count;
    }

    private GrammarState Advance(GrammarState state, byte value)
    {
        if (_transitions.TryGetValue((state, value), out var next))
        {
            return next;
        }

        next = _runtime.Advance(state, value);
        if (_transitions.Count >= MaxTransitions)
        {
            _transitions.Clear();
        }

        _transitions[(state, value)] = next;
        return next;
    }

    /// <summary><see cref="GrammarRuntime.CanRead"/> through the transition memo.</summary>
    private bool CanRead(GrammarState state, ReadOnlySpan<byte> bytes)
    {
        for (int i = 0; i < bytes.Length; i++)
        {
            state = Advance(state, bytes[i]);
            if (state.CannotContinue)
            {
                return i == bytes.Length - 1 && state.Accepting;
            }
        }

        return true;
    }

    /// <summary>Forgets the per-state masks (benchmarks measure a state met for the first time).</summary>
    internal void ClearStateMasks() => _states.Clear();

    /// <summary>Whether a node's precomputed tables exist (for tests and benchmarks).</summary>
    internal int PrecomputedNodes => _nodes.Count;

    private NodeMask Precompute(int node)
    {
        var accepted = new ulong[Words];
        var uncertain = new List<int>();
        int[] ids = _vocabulary.SortedIds;
        Walk(ids, 0, ids.Length, 0, GrammarRuntime.Single(node, GrammarStack.Unknown), false, accepted, uncertain);
        return new NodeMask(accepted, [.. uncertain]);
    }

    /// <summary>
    /// Walks the tokens <c>ids[low..high)</c>, which share their first <paramref name="depth"/> bytes, read into
    /// <paramref name="state"/>. <paramref name="escapedAbove"/>: a shorter prefix already left the rule, so a longer
    /// token may still be valid depending on the stack.
    /// </summary>
    private void Walk(int[] ids, int low, int high, int depth, GrammarState state, bool escapedAbove, ulong[] accepted, List<int> uncertain)
    {
        int i = low;
        while (i < high && _vocabulary.BytesOf(ids[i]).Length == depth)
        {
            int token = ids[i++];
            if (state.Configurations.Length > 0 || state.Escaped)
            {
                accepted[token >> 6] |= 1UL << token;
            }
            else if (escapedAbove)
            {
                uncertain.Add(token);
            }
        }

        bool escaped = escapedAbove || state.Escaped;
        while (i < high)
        {
            byte value = _vocabulary.BytesOf(ids[i])[depth];
            int end = i + 1;
            while (end < high && _vocabulary.BytesOf(ids[end])[depth] == value)
            {
                end++;
            }

            var next = state.Configurations.Length == 0 ? GrammarRuntime.Dead : Advance(state, value);
            if (next.Configurations.Length > 0 || next.Escaped)
            {
                Walk(ids, i, end, depth + 1, next, escaped, accepted, uncertain);
            }
            else if (escaped)
            {
                for (int k = i; k < end; k++)
                {
                    uncertain.Add(ids[k]);
                }
            }

            i = end;
        }
    }
}
