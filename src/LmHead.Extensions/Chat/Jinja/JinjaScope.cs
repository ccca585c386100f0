namespace LmHead.Extensions.Chat.Jinja;

/// <summary>A frame of variables: the template's globals at the root, one frame per loop iteration and macro call.</summary>
internal sealed class JinjaScope(JinjaScope? parent)
{
    private readonly Dictionary<string, object?> _variables = new(StringComparer.Ordinal);

    /// <summary>The value of a name, or <see cref="JinjaUndefined"/>.</summary>
    public object? Get(string name)
    {
        for (var scope = this; scope is not null; scope = scope.Parent)
        {
            if (scope._variables.TryGetValue(name, out var value))
            {
                return value;
            }
        }

        return new JinjaUndefined(name);
    }

    /// <summary>Sets a name in this frame (a <c>set</c> inside a loop does not leak out of it, as in Jinja).</summary>
    public void Set(string name, object? value) => _variables[name] = value;

    public JinjaScope? Parent { get; } = parent;
}
