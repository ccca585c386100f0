namespace LmHead.Extensions.Decoding.Grammar;

/// <summary>What an <see cref="OutputConstraint"/> holds the output to.</summary>
public enum OutputConstraintKind
{
    /// <summary>Any valid JSON value (RFC 8259).</summary>
    Json,

    /// <summary>A JSON value that validates against a JSON schema (the supported subset: see docs/structured-output.md).</summary>
    JsonSchema,

    /// <summary>Text that a regular expression matches whole (a .NET regex subset).</summary>
    Regex,
}
