using System.Globalization;
using System.Text.Json;
using static LmHead.Extensions.Decoding.Grammar.Fragments;

namespace LmHead.Extensions.Decoding.Grammar;

/// <summary>
/// Compiles the supported JSON Schema subset into a byte-level grammar whose every sentence validates against the
/// schema. Properties are written in the schema's order (required ones always, optional ones may be left out), and no
/// property beyond <c>properties</c> is generated, whatever <c>additionalProperties</c> says.
/// </summary>
internal sealed class JsonSchemaCompiler
{
    private static readonly HashSet<string> Ignored =
    [
        "description", "title", "default", "examples", "$schema", "$id", "$comment", "format", "readOnly", "writeOnly",
        "deprecated", "$defs", "definitions", "uniqueItems_false", "contentMediaType", "contentEncoding",
    ];

    private static readonly HashSet<string> Known =
    [
        "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const",
        "anyOf", "oneOf", "allOf", "$ref", "pattern", "minLength", "maxLength", "minimum", "maximum",
        "exclusiveMinimum", "exclusiveMaximum", "uniqueItems",
    ];

    // Non-ASCII text written as UTF-8 rather than \uXXXX; the decoded values are the same.
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly ByteAutomaton _automaton;
    private readonly JsonGrammarRules _json;
    private readonly JsonElement _root;
    private readonly Dictionary<string, int> _references = [];

    private JsonSchemaCompiler(ByteAutomaton automaton, JsonGrammarRules json, JsonElement root)
    {
        _automaton = automaton;
        _json = json;
        _root = root;
    }

    /// <summary>Compiles <paramref name="schema"/> into rule 0 of <paramref name="automaton"/>.</summary>
    /// <exception cref="ArgumentException">The schema uses an unsupported keyword or value (the message names it and its JSON path).</exception>
    public static void Compile(ByteAutomaton automaton, JsonGrammarRules json, int rootRule, JsonElement schema)
    {
        var compiler = new JsonSchemaCompiler(automaton, json, schema);
        automaton.Emit(rootRule, compiler.Value(schema, "#"));
    }

    private static ArgumentException Unsupported(string path, string what) =>
        new($"The JSON schema is not supported at {path}: {what}. See docs/structured-output.md for the supported subset.");

    private Fragment Value(JsonElement schema, string path)
    {
        if (schema.ValueKind == JsonValueKind.True)
        {
            return _json.AnyValue();
        }

        if (schema.ValueKind != JsonValueKind.Object)
        {
            throw Unsupported(path, $"a schema must be an object or true, not {schema.ValueKind}");
        }

        var keys = schema.EnumerateObject().Select(p => p.Name).ToList();
        foreach (string key in keys)
        {
            if (!Known.Contains(key) && !Ignored.Contains(key))
            {
                throw Unsupported($"{path}/{key}", $"the keyword '{key}'");
            }
        }

        if (schema.TryGetProperty("uniqueItems", out var unique) && unique.ValueKind == JsonValueKind.True)
        {
            throw Unsupported($"{path}/uniqueItems", "the keyword 'uniqueItems': true");
        }

        if (schema.TryGetProperty("$ref", out var reference))
        {
            RequireOnly(schema, path, "$ref");
            return Call(Reference(reference.GetString() ?? "", $"{path}/$ref"));
        }

        if (schema.TryGetProperty("enum", out var values))
        {
            return Choice([.. values.EnumerateArray().Select(v => Literal(JsonSerializer.Serialize(v, Relaxed)))]);
        }

        if (schema.TryGetProperty("const", out var constant))
        {
            return Literal(JsonSerializer.Serialize(constant, Relaxed));
        }

        foreach (string combinator in new[] { "anyOf", "oneOf", "allOf" })
        {
            if (schema.TryGetProperty(combinator, out var branches))
            {
                RequireOnly(schema, path, combinator);
                var list = branches.EnumerateArray().ToList();
                if (combinator == "allOf" && list.Count != 1)
                {
                    throw Unsupported($"{path}/allOf", "'allOf' with more than one schema");
                }

                return Choice([.. list.Select((b, i) => Value(b, $"{path}/{combinator}/{i}"))]);
            }
        }

        var types = TypesOf(schema, path);
        return Choice([.. types.Select(t => Typed(schema, t, path))]);
    }

    /// <summary>Throws when <paramref name="schema"/> constrains anything besides <paramref name="keyword"/> (annotations aside).</summary>
    private static void RequireOnly(JsonElement schema, string path, string keyword)
    {
        foreach (var property in schema.EnumerateObject())
        {
            if (property.Name != keyword && !Ignored.Contains(property.Name) && !(property.Name == "uniqueItems"))
            {
                throw Unsupported($"{path}/{property.Name}", $"'{property.Name}' beside '{keyword}'");
            }
        }
    }

    private static List<string> TypesOf(JsonElement schema, string path)
    {
        if (schema.TryGetProperty("type", out var type))
        {
            var names = type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Select(t => t.GetString() ?? "").ToList() : [type.GetString() ?? ""];
            foreach (string name in names)
            {
                if (name is not ("object" or "array" or "string" or "number" or "integer" or "boolean" or "null"))
                {
                    throw Unsupported($"{path}/type", $"the type '{name}'");
                }
            }

            return names;
        }

        if (schema.TryGetProperty("properties", out _) || schema.TryGetProperty("additionalProperties", out _))
        {
            return ["object"];
        }

        if (schema.TryGetProperty("items", out _))
        {
            return ["array"];
        }

        if (schema.TryGetProperty("pattern", out _) || schema.TryGetProperty("minLength", out _) || schema.TryGetProperty("maxLength", out _))
        {
            return ["string"];
        }

        return ["object", "array", "string", "number", "boolean", "null"];
    }

    private Fragment Typed(JsonElement schema, string type, string path) => type switch
    {
        "null" => Literal("null"),
        "boolean" => Choice(Literal("true"), Literal("false")),
        "string" => StringOf(schema, path),
        "integer" => Integer(schema, path),
        "number" => NumberOf(schema, path),
        "array" => ArrayOf(schema, path),
        _ => ObjectOf(schema, path),
    };

    private static int? Count(JsonElement schema, string keyword, string path) =>
        !schema.TryGetProperty(keyword, out var value) ? null
        : value.TryGetInt32(out int count) && count >= 0 ? count
        : throw Unsupported($"{path}/{keyword}", $"'{keyword}' must be a non-negative integer, not {value.GetRawText()}");

    private Fragment StringOf(JsonElement schema, string path)
    {
        int min = Count(schema, "minLength", path) ?? 0;
        int? max = Count(schema, "maxLength", path);
        if (max < min)
        {
            throw Unsupported($"{path}/maxLength", $"maxLength {max} is below minLength {min}");
        }

        if (schema.TryGetProperty("pattern", out var pattern))
        {
            if (min != 0 || max is not null)
            {
                throw Unsupported($"{path}/pattern", "'pattern' together with 'minLength' or 'maxLength'");
            }

            var body = RegexGrammarCompiler.CompileSearch(pattern.GetString() ?? "", $"at {path}/pattern", JsonGrammarRules.StringCharacter);
            return Sequence(Byte((byte)'"'), body, Byte((byte)'"'));
        }

        return _json.String(min, max);
    }

    /// <summary>A numeric keyword's value, null when absent.</summary>
    private static decimal? Bound(JsonElement schema, string keyword, string path) =>
        !schema.TryGetProperty(keyword, out var value) || value.ValueKind is JsonValueKind.True or JsonValueKind.False ? null
        : value.ValueKind == JsonValueKind.Number && value.TryGetDecimal(out decimal number) ? number
        : throw Unsupported($"{path}/{keyword}", $"'{keyword}' must be a number within ±7.9E+28, not {value.GetRawText()}");

    /// <summary>
    /// The lower and upper bounds of a number or integer schema (null: open), each inclusive or exclusive, from
    /// minimum / maximum / exclusiveMinimum / exclusiveMaximum (numbers, as in 2019-09 and 2020-12, or draft 4's
    /// booleans that make minimum / maximum exclusive); the tighter of two bounds on one side wins.
    /// </summary>
    private static (NumberRangeGrammar.Bound? Low, NumberRangeGrammar.Bound? High) Bounds(JsonElement schema, string path)
    {
        decimal? min = Bound(schema, "minimum", path), max = Bound(schema, "maximum", path);
        decimal? exclusiveMin = Bound(schema, "exclusiveMinimum", path), exclusiveMax = Bound(schema, "exclusiveMaximum", path);
        bool draft4Min = schema.TryGetProperty("exclusiveMinimum", out var a) && a.ValueKind == JsonValueKind.True;
        bool draft4Max = schema.TryGetProperty("exclusiveMaximum", out var b) && b.ValueKind == JsonValueKind.True;
        NumberRangeGrammar.Bound? low = min is { } m ? new(m, !draft4Min) : null;
        if (exclusiveMin is { } e && (low is not { } l || e >= l.Value))
        {
            low = new(e, false);
        }

        NumberRangeGrammar.Bound? high = max is { } n ? new(n, !draft4Max) : null;
        if (exclusiveMax is { } f && (high is not { } h || f <= h.Value))
        {
            high = new(f, false);
        }

        return (low, high);
    }

    /// <summary>
    /// An integer schema: its bounds are exact; an open end stops at the 32-bit limit (what M.E.AI's schema of an
    /// <c>int</c>, which carries no bounds, can hold), or at the 64-bit limit with <c>"format": "int64"</c> or when the
    /// other end lies outside the 32-bit range; <c>"format": "int32"</c> also clips explicit bounds to 32 bits.
    /// </summary>
    private static Fragment Integer(JsonElement schema, string path)
    {
        var (lowBound, highBound) = Bounds(schema, path);
        decimal? low = lowBound is { } l ? (l.Inclusive ? Math.Ceiling(l.Value) : Math.Floor(l.Value) + 1) : null;
        decimal? high = highBound is { } h ? (h.Inclusive ? Math.Floor(h.Value) : Math.Ceiling(h.Value) - 1) : null;
        string? format = schema.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;
        if (format == "int32")
        {
            low = Math.Max(low ?? int.MinValue, int.MinValue);
            high = Math.Min(high ?? int.MaxValue, int.MaxValue);
        }

        bool wide = format == "int64" || low is < int.MinValue or > int.MaxValue || high is < int.MinValue or > int.MaxValue;
        low ??= wide ? long.MinValue : int.MinValue;
        high ??= wide ? long.MaxValue : int.MaxValue;
        return IntegerRangeGrammar.Create(low, high, path);
    }

    /// <summary>A number schema: any JSON number when unbounded, else the decimal numbers in the range (no exponent).</summary>
    private Fragment NumberOf(JsonElement schema, string path)
    {
        var (low, high) = Bounds(schema, path);
        return low is null && high is null ? _json.Number() : NumberRangeGrammar.Create(low, high, path);
    }

    private Fragment ArrayOf(JsonElement schema, string path)
    {
        int min = Count(schema, "minItems", path) ?? 0;
        int? max = Count(schema, "maxItems", path);
        if (max < min)
        {
            throw Unsupported($"{path}/maxItems", $"maxItems {max} is below minItems {min}");
        }

        var item = schema.TryGetProperty("items", out var items) ? Value(items, $"{path}/items") : _json.AnyValue();
        return _json.Array(item, min, max);
    }

    private Fragment ObjectOf(JsonElement schema, string path)
    {
        var required = schema.TryGetProperty("required", out var names) ? names.EnumerateArray().Select(n => n.GetString() ?? "").ToHashSet() : [];
        if (!schema.TryGetProperty("properties", out var properties) || !properties.EnumerateObject().Any())
        {
            if (required.Count > 0)
            {
                throw Unsupported($"{path}/required", "'required' names properties that 'properties' does not describe");
            }

            bool closed = schema.TryGetProperty("additionalProperties", out var extra) && extra.ValueKind == JsonValueKind.False;
            if (closed)
            {
                return Sequence(Byte((byte)'{'), _json.Whitespace, Byte((byte)'}'));
            }

            var value = extra.ValueKind == JsonValueKind.Object ? Value(extra, $"{path}/additionalProperties") : _json.AnyValue();
            return _json.Object(Sequence(_json.String(), _json.Whitespace, Byte((byte)':'), _json.Whitespace, value));
        }

        var members = properties.EnumerateObject().Select(p => (
            Fragment: Sequence(Literal(JsonSerializer.Serialize(p.Name, Relaxed)), _json.Whitespace, Byte((byte)':'), _json.Whitespace, Value(p.Value, $"{path}/properties/{p.Name}")),
            Required: required.Contains(p.Name))).ToList();
        foreach (string name in required)
        {
            if (!properties.TryGetProperty(name, out _))
            {
                throw Unsupported($"{path}/required", $"the required property '{name}' is not in 'properties'");
            }
        }

        return OrderedMembers(members);
    }

    /// <summary>
    /// The members in order, optional ones skippable, with commas only between written members: node (i, e) is "before
    /// member i, e = whether a member was written yet".
    /// </summary>
    private Fragment OrderedMembers(List<(Fragment Fragment, bool Required)> members) => (a, from, to) =>
    {
        var separator = Sequence(_json.Whitespace, Byte((byte)','), _json.Whitespace);
        int[] none = new int[members.Count + 1], some = new int[members.Count + 1];
        for (int i = 0; i <= members.Count; i++)
        {
            none[i] = a.AddNode();
            some[i] = a.AddNode();
        }

        Sequence(Byte((byte)'{'), _json.Whitespace)(a, from, none[0]);
        for (int i = 0; i < members.Count; i++)
        {
            members[i].Fragment(a, none[i], some[i + 1]);
            Sequence(separator, members[i].Fragment)(a, some[i], some[i + 1]);
            if (!members[i].Required)
            {
                a.AddEmpty(none[i], none[i + 1]);
                a.AddEmpty(some[i], some[i + 1]);
            }
        }

        Byte((byte)'}')(a, none[members.Count], to);
        Sequence(_json.Whitespace, Byte((byte)'}'))(a, some[members.Count], to);
    };

    private int Reference(string reference, string path)
    {
        if (_references.TryGetValue(reference, out int rule))
        {
            return rule;
        }

        if (!reference.StartsWith('#'))
        {
            throw Unsupported(path, $"the reference '{reference}' (only local references '#/...' are supported)");
        }

        var target = _root;
        foreach (string part in reference[1..].Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            string name = Uri.UnescapeDataString(part).Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
            if (target.ValueKind != JsonValueKind.Object || !target.TryGetProperty(name, out target))
            {
                throw Unsupported(path, $"the reference '{reference}' points at nothing");
            }
        }

        // The rule exists before its body is compiled, so a recursive type refers to itself through a call.
        rule = _automaton.AddRule();
        _references[reference] = rule;
        _automaton.Emit(rule, Value(target, reference));
        return rule;
    }
}
