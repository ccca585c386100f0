namespace LmHead.Extensions.Decoding.Grammar;

/// <summary>
/// A byte-level recursive transition network: a set of rules, each a graph of nodes joined by byte-range edges,
/// empty edges and calls of other rules (which push a return node). Rule 0 is the whole grammar. With the call stack
/// it is a pushdown automaton, so nesting (JSON arrays in objects in arrays ...) and recursive <c>$ref</c>s need no
/// depth bound in the grammar itself.
/// </summary>
internal sealed class ByteAutomaton
{
    private readonly List<Node> _nodes = [];
    private readonly List<(int Start, int End)> _rules = [];

    /// <summary>One node: its outgoing edges and whether it ends its rule.</summary>
    internal sealed class Node
    {
        /// <summary>Byte-range edges (inclusive bounds) and their targets.</summary>
        public List<(byte Low, byte High, int Target)> Bytes { get; } = [];

        /// <summary>Empty edges.</summary>
        public List<int> Empty { get; } = [];

        /// <summary>Calls: the rule entered and the node to continue at once it ends.</summary>
        public List<(int Rule, int Return)> Calls { get; } = [];

        /// <summary>Whether reaching this node ends the rule (returns to the caller).</summary>
        public bool EndsRule { get; set; }

        /// <summary>The bytes as one array per edge, built by <see cref="Freeze"/> for the hot loops.</summary>
        public (byte Low, byte High, int Target)[] ByteEdges { get; set; } = [];
    }

    /// <summary>The nodes, by id.</summary>
    public IReadOnlyList<Node> Nodes => _nodes;

    /// <summary>Each rule's start and end node.</summary>
    public IReadOnlyList<(int Start, int End)> Rules => _rules;

    /// <summary>The number of nodes.</summary>
    public int NodeCount => _nodes.Count;

    /// <summary>Adds a rule with a fresh start and end node; its body is added later with <see cref="Emit"/>.</summary>
    public int AddRule()
    {
        int start = AddNode();
        int end = AddNode();
        _nodes[end].EndsRule = true;
        _rules.Add((start, end));
        return _rules.Count - 1;
    }

    /// <summary>Adds a node.</summary>
    public int AddNode()
    {
        _nodes.Add(new Node());
        return _nodes.Count - 1;
    }

    /// <summary>Adds an edge on one byte range.</summary>
    public void AddBytes(int from, int to, byte low, byte high) => _nodes[from].Bytes.Add((low, high, to));

    /// <summary>Adds an empty edge.</summary>
    public void AddEmpty(int from, int to) => _nodes[from].Empty.Add(to);

    /// <summary>Adds a call of <paramref name="rule"/> from <paramref name="from"/> that continues at <paramref name="to"/>.</summary>
    public void AddCall(int from, int rule, int to) => _nodes[from].Calls.Add((rule, to));

    /// <summary>Emits <paramref name="body"/> as the body of <paramref name="rule"/>.</summary>
    public void Emit(int rule, Fragment body) => body(this, _rules[rule].Start, _rules[rule].End);

    /// <summary>Builds the flat edge arrays; call once when the grammar is complete.</summary>
    public void Freeze()
    {
        foreach (var node in _nodes)
        {
            node.ByteEdges = [.. node.Bytes];
        }
    }
}
