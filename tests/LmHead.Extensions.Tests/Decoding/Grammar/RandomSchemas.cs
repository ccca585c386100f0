using System.Text.Json.Nodes;

namespace LmHead.Extensions.Tests.Decoding.Grammar;

/// <summary>Random JSON schemas from the supported subset, for property tests (seeded).</summary>
internal sealed class RandomSchemas(Random random)
{
    private static readonly string[] Patterns = [@"^[a-z]{1,5}$", @"^\d{3}-\d{2}$", @"^(yes|no)$", @"^[A-Z][a-z]*$", "ab"];

    internal JsonObject Next(int depth = 0)
    {
        var defs = new JsonObject();
        var schema = Value(depth, defs);
        if (defs.Count > 0)
        {
            schema["$defs"] = defs;
        }

        return schema;
    }

    private JsonObject Value(int depth, JsonObject defs)
    {
        int choice = random.Next(depth >= 3 ? 9 : 14);
        switch (choice)
        {
            case 0: return new JsonObject { ["type"] = "boolean" };
            case 1: return new JsonObject { ["type"] = "null" };
            case 2: return StringSchema();
            case 3: return StringSchema();
            case 4: return IntegerSchema();
            case 5: return NumberSchema();
            case 6: return new JsonObject { ["enum"] = new JsonArray("red", 2, null, true, new JsonObject { ["k"] = new JsonArray(1, "x") }, "grün") };
            case 7: return new JsonObject { ["const"] = random.Next(2) == 0 ? "fixed" : 42 };
            case 8: return new JsonObject { ["type"] = new JsonArray("string", "null"), ["maxLength"] = 6 };
            case 9 or 10: return ObjectSchema(depth, defs);
            case 11:
                var array = new JsonObject { ["type"] = "array", ["items"] = Value(depth + 1, defs) };
                int min = random.Next(3);
                array["minItems"] = min;
                array["maxItems"] = min + random.Next(4);
                return array;
            case 12:
                // anyOf with branches of different types, so every output matches oneOf too.
                return new JsonObject { [random.Next(2) == 0 ? "anyOf" : "oneOf"] = new JsonArray(IntegerSchema(), StringSchema(), new JsonObject { ["type"] = "null" }) };
            default:
                string name = $"D{defs.Count}";
                defs[name] = ObjectSchema(depth + 1, defs);
                return new JsonObject { ["$ref"] = $"#/$defs/{name}" };
        }
    }

    private JsonObject StringSchema()
    {
        var schema = new JsonObject { ["type"] = "string" };
        switch (random.Next(4))
        {
            case 0:
                int min = random.Next(3);
                schema["minLength"] = min;
                schema["maxLength"] = min + random.Next(6);
                break;
            case 1:
                schema["pattern"] = Patterns[random.Next(Patterns.Length)];
                break;
            case 2:
                schema["enum"] = new JsonArray("a", "b c", "é\"q", "中文");
                break;
            default:
                schema["maxLength"] = 8;
                break;
        }

        return schema;
    }

    /// <summary>An integer schema: unbounded, or random bounds (inclusive or exclusive, one or both sides, up to the 64-bit range).</summary>
    internal JsonObject IntegerSchema()
    {
        var schema = new JsonObject { ["type"] = "integer" };
        if (random.Next(4) == 0)
        {
            return schema;
        }

        long scale = random.Next(3) switch { 0 => 1000, 1 => 1_000_000_000, _ => long.MaxValue / 2 };
        long low = random.NextInt64(-scale, scale);
        long high = low + random.NextInt64(0, Math.Min(scale, 5000 + (scale / 10)));
        AddBounds(schema, low, high, exclusiveSlack: 2);
        return schema;
    }

    /// <summary>A number schema: unbounded, or random decimal bounds with up to three fraction digits.</summary>
    internal JsonObject NumberSchema()
    {
        var schema = new JsonObject { ["type"] = "number" };
        if (random.Next(4) == 0)
        {
            return schema;
        }

        decimal low = random.Next(-200_000, 200_000) / (decimal)Math.Pow(10, random.Next(4));
        decimal high = low + (random.Next(1, 100_000) / (decimal)Math.Pow(10, random.Next(4)));
        AddBounds(schema, low, high, exclusiveSlack: 0);
        return schema;
    }

    /// <summary>Sets one or both bounds, each as minimum/maximum or exclusiveMinimum/exclusiveMaximum (kept non-empty).</summary>
    private void AddBounds(JsonObject schema, decimal low, decimal high, decimal exclusiveSlack)
    {
        int sides = random.Next(3);
        bool exclusive = high - low >= exclusiveSlack;
        if (sides != 1)
        {
            schema[exclusive && random.Next(2) == 0 ? "exclusiveMinimum" : "minimum"] = low;
        }

        if (sides != 2)
        {
            schema[exclusive && random.Next(2) == 0 ? "exclusiveMaximum" : "maximum"] = high;
        }
    }

    private JsonObject ObjectSchema(int depth, JsonObject defs)
    {
        var properties = new JsonObject();
        var required = new JsonArray();
        int count = 1 + random.Next(4);
        for (int i = 0; i < count; i++)
        {
            string name = random.Next(5) == 0 ? $"naïve {i}" : $"p{i}";
            properties[name] = Value(depth + 1, defs);
            if (random.Next(2) == 0)
            {
                required.Add(name);
            }
        }

        return new JsonObject { ["type"] = "object", ["properties"] = properties, ["required"] = required, ["additionalProperties"] = false };
    }
}
