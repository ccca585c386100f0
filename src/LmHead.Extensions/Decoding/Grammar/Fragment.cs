namespace LmHead.Extensions.Decoding.Grammar;

/// <summary>A piece of grammar that can be emitted between two nodes of a <see cref="ByteAutomaton"/>.</summary>
/// <param name="automaton">The automaton to add nodes and edges to.</param>
/// <param name="from">The node the piece starts at.</param>
/// <param name="to">The node the piece ends at.</param>
internal delegate void Fragment(ByteAutomaton automaton, int from, int to);

/// <summary>Combinators that build <see cref="Fragment"/>s (Thompson's construction over bytes, plus rule calls).</summary>
internal static class Fragments
{
    /// <summary>Matches nothing but the empty string.</summary>
    public static Fragment Empty { get; } = (a, from, to) => a.AddEmpty(from, to);

    /// <summary>One byte in <paramref name="low"/>..<paramref name="high"/>.</summary>
    public static Fragment Range(byte low, byte high) => (a, from, to) => a.AddBytes(from, to, low, high);

    /// <summary>One byte.</summary>
    public static Fragment Byte(byte value) => Range(value, value);

    /// <summary>The UTF-8 bytes of <paramref name="text"/>.</summary>
    public static Fragment Literal(string text) => Bytes(System.Text.Encoding.UTF8.GetBytes(text));

    /// <summary>A byte sequence.</summary>
    public static Fragment Bytes(byte[] bytes) => Sequence([.. bytes.Select(Byte)]);

    /// <summary>A call of a rule.</summary>
    public static Fragment Call(int rule) => (a, from, to) => a.AddCall(from, rule, to);

    /// <summary>The pieces one after another.</summary>
    public static Fragment Sequence(params Fragment[] parts) => (a, from, to) =>
    {
        if (parts.Length == 0)
        {
            a.AddEmpty(from, to);
            return;
        }

        int at = from;
        for (int i = 0; i < parts.Length; i++)
        {
            int next = i == parts.Length - 1 ? to : a.AddNode();
            parts[i](a, at, next);
            at = next;
        }
    };

    /// <summary>Any one of the pieces.</summary>
    public static Fragment Choice(params Fragment[] parts) => (a, from, to) =>
    {
        foreach (var part in parts)
        {
            // A node of its own per branch, so a branch that loops back to its start cannot leak into another.
            int start = a.AddNode();
            a.AddEmpty(from, start);
            part(a, start, to);
        }
    };

    /// <summary>The piece or nothing.</summary>
    public static Fragment Optional(Fragment part) => Choice(part, Empty);

    /// <summary>The piece repeated any number of times (zero included).</summary>
    public static Fragment Star(Fragment part) => (a, from, to) =>
    {
        int loop = a.AddNode();
        a.AddEmpty(from, loop);
        a.AddEmpty(loop, to);
        int body = a.AddNode();
        a.AddEmpty(loop, body);
        part(a, body, loop);
    };

    /// <summary>The piece repeated <paramref name="min"/> to <paramref name="max"/> times (<see langword="null"/>: no upper bound).</summary>
    public static Fragment Repeat(Fragment part, int min, int? max)
    {
        var parts = new List<Fragment>();
        for (int i = 0; i < min; i++)
        {
            parts.Add(part);
        }

        if (max is null)
        {
            parts.Add(Star(part));
        }
        else if (max > min)
        {
            // Nested optionals: (p (p (p)?)?)? keeps the automaton linear in max - min.
            Fragment tail = Optional(part);
            for (int i = min + 1; i < max; i++)
            {
                tail = Optional(Sequence(part, tail));
            }

            parts.Add(tail);
        }

        return Sequence([.. parts]);
    }
}
