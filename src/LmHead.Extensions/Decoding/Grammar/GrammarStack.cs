namespace LmHead.Extensions.Decoding.Grammar;

/// <summary>
/// An immutable call stack of the pushdown automaton: the node each pending rule call returns to, shared between
/// states (a linked list, so pushing and popping copy nothing). Compared by value, with the hash cached.
/// </summary>
internal sealed class GrammarStack : IEquatable<GrammarStack>
{
    /// <summary>The bottom of a stack whose frames are not known: reached while precomputing a node's token masks.</summary>
    public static GrammarStack Unknown { get; } = new(-1, null);

    private readonly int _hash;

    /// <summary>Pushes <paramref name="returnNode"/> onto <paramref name="parent"/> (<see langword="null"/> is the empty stack).</summary>
    public GrammarStack(int returnNode, GrammarStack? parent)
    {
        ReturnNode = returnNode;
        Parent = parent;
        Depth = (parent?.Depth ?? 0) + 1;
        _hash = HashCode.Combine(returnNode, parent?._hash ?? 0);
    }

    /// <summary>The node to continue at when the current rule ends.</summary>
    public int ReturnNode { get; }

    /// <summary>The frames below, or <see langword="null"/>.</summary>
    public GrammarStack? Parent { get; }

    /// <summary>How many frames the stack holds.</summary>
    public int Depth { get; }

    /// <summary>Whether this is <see cref="Unknown"/>.</summary>
    public bool IsUnknown => ReferenceEquals(this, Unknown);

    /// <inheritdoc/>
    public bool Equals(GrammarStack? other)
    {
        var a = this;
        var b = other;
        while (true)
        {
            if (ReferenceEquals(a, b))
            {
                return true;
            }

            if (a is null || b is null || a._hash != b._hash || a.ReturnNode != b.ReturnNode || a.Depth != b.Depth || a.IsUnknown || b.IsUnknown)
            {
                return false;
            }

            a = a.Parent;
            b = b.Parent;
        }
    }

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as GrammarStack);

    /// <inheritdoc/>
    public override int GetHashCode() => _hash;
}
