namespace LmHead.Extensions.Decoding.Grammar;

/// <summary>
/// Runs a <see cref="ByteAutomaton"/> as a pushdown automaton over bytes: the start state, and the state after a
/// byte (every configuration reading it, then the closure over empty edges, calls and returns). Stateless and
/// thread-safe; states are immutable.
/// </summary>
internal sealed class GrammarRuntime
{
    /// <summary>How deep rule calls may nest (JSON nesting, recursive references); deeper calls are not followed.</summary>
    public const int MaxDepth = 200;

    private readonly ByteAutomaton _automaton;

    /// <summary>Creates the runtime of a frozen automaton.</summary>
    public GrammarRuntime(ByteAutomaton automaton)
    {
        _automaton = automaton;
        Start = Close([(automaton.Rules[0].Start, null)]);
    }

    /// <summary>The automaton.</summary>
    public ByteAutomaton Automaton => _automaton;

    /// <summary>The state before any byte.</summary>
    public GrammarState Start { get; }

    /// <summary>The state of one configuration whose node reads bytes, with its stack (no closure needed).</summary>
    public static GrammarState Single(int node, GrammarStack? stack) => new([(node, stack)], false, false);

    /// <summary>The state after <paramref name="value"/>; a dead state when no configuration reads it.</summary>
    public GrammarState Advance(GrammarState state, byte value)
    {
        List<(int, GrammarStack?)>? moved = null;
        foreach (var (node, stack) in state.Configurations)
        {
            foreach (var (low, high, target) in _automaton.Nodes[node].ByteEdges)
            {
                if (low <= value && value <= high)
                {
                    (moved ??= []).Add((target, stack));
                }
            }
        }

        return moved is null ? Dead : Close(moved);
    }

    /// <summary>The state after <paramref name="bytes"/>; dead when a byte cannot be read or the text completed before the last byte.</summary>
    public GrammarState Advance(GrammarState state, ReadOnlySpan<byte> bytes)
    {
        for (int i = 0; i < bytes.Length; i++)
        {
            state = Advance(state, bytes[i]);
            if (state.CannotContinue && i < bytes.Length - 1)
            {
                return Dead;
            }
        }

        return state;
    }

    /// <summary>Whether <paramref name="bytes"/> read from <paramref name="state"/> leave a live state (more may follow, or the text may end).</summary>
    public bool CanRead(GrammarState state, ReadOnlySpan<byte> bytes)
    {
        for (int i = 0; i < bytes.Length; i++)
        {
            state = Advance(state, bytes[i]);
            if (state.CannotContinue)
            {
                // Only the last byte may complete the text.
                return i == bytes.Length - 1 && state.Accepting;
            }
        }

        return true;
    }

    /// <summary>The state nothing can leave.</summary>
    public static GrammarState Dead { get; } = new([], false, false);

    private GrammarState Close(List<(int Node, GrammarStack? Stack)> seeds)
    {
        var seen = new HashSet<(int, GrammarStack?)>();
        var reading = new List<(int Node, GrammarStack? Stack)>();
        bool accepting = false, escaped = false;
        var work = new Stack<(int Node, GrammarStack? Stack)>(seeds);
        while (work.Count > 0)
        {
            var (node, stack) = work.Pop();
            if (!seen.Add((node, stack)))
            {
                continue;
            }

            var n = _automaton.Nodes[node];
            if (n.ByteEdges.Length > 0)
            {
                reading.Add((node, stack));
            }

            foreach (int next in n.Empty)
            {
                work.Push((next, stack));
            }

            foreach (var (rule, returnNode) in n.Calls)
            {
                if ((stack?.Depth ?? 0) < MaxDepth)
                {
                    work.Push((_automaton.Rules[rule].Start, new GrammarStack(returnNode, stack)));
                }
            }

            if (n.EndsRule)
            {
                if (stack is null)
                {
                    accepting = true;
                }
                else if (stack.IsUnknown)
                {
                    escaped = true;
                }
                else
                {
                    work.Push((stack.ReturnNode, stack.Parent));
                }
            }
        }

        if (reading.Count > 1)
        {
            reading.Sort((x, y) => x.Node != y.Node ? x.Node.CompareTo(y.Node) : (x.Stack?.GetHashCode() ?? 0).CompareTo(y.Stack?.GetHashCode() ?? 0));
        }

        return new GrammarState([.. reading], accepting, escaped);
    }
}
