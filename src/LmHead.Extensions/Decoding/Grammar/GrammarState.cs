namespace LmHead.Extensions.Decoding.Grammar;

/// <summary>
/// Where the automaton may be after some bytes: the configurations (a node with outgoing bytes, and its call stack)
/// it may be in, whether the whole grammar may end here, and (while precomputing) whether a path left the rule whose
/// stack is unknown. Immutable and compared by value, so it can key a cache of token masks.
/// </summary>
internal sealed class GrammarState : IEquatable<GrammarState>
{
    private readonly int _hash;

    /// <summary>Creates a state; <paramref name="configurations"/> must be in canonical order (see <see cref="GrammarRuntime"/>).</summary>
    public GrammarState((int Node, GrammarStack? Stack)[] configurations, bool accepting, bool escaped)
    {
        Configurations = configurations;
        Accepting = accepting;
        Escaped = escaped;
        var hash = new HashCode();
        foreach (var (node, stack) in configurations)
        {
            hash.Add(node);
            hash.Add(stack?.GetHashCode() ?? 0);
        }

        hash.Add(accepting);
        hash.Add(escaped);
        _hash = hash.ToHashCode();
    }

    /// <summary>The configurations that can read another byte.</summary>
    public (int Node, GrammarStack? Stack)[] Configurations { get; }

    /// <summary>Whether the grammar's text may end here.</summary>
    public bool Accepting { get; }

    /// <summary>Whether a path ended the rule whose caller is <see cref="GrammarStack.Unknown"/>.</summary>
    public bool Escaped { get; }

    /// <summary>Whether no byte can follow (the text may still be complete: see <see cref="Accepting"/>).</summary>
    public bool CannotContinue => Configurations.Length == 0;

    /// <summary>Whether the text is complete and nothing may follow it.</summary>
    public bool IsComplete => Configurations.Length == 0 && Accepting;

    /// <summary>Whether the bytes read so far lead nowhere.</summary>
    public bool IsDead => Configurations.Length == 0 && !Accepting && !Escaped;

    /// <inheritdoc/>
    public bool Equals(GrammarState? other)
    {
        if (other is null || other._hash != _hash || other.Accepting != Accepting || other.Escaped != Escaped || other.Configurations.Length != Configurations.Length)
        {
            return false;
        }

        for (int i = 0; i < Configurations.Length; i++)
        {
            if (Configurations[i].Node != other.Configurations[i].Node || !Equals(Configurations[i].Stack, other.Configurations[i].Stack))
            {
                return false;
            }
        }

        return true;
    }

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as GrammarState);

    /// <inheritdoc/>
    public override int GetHashCode() => _hash;
}
