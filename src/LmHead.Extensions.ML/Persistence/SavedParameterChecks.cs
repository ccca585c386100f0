using System.Globalization;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// Checks the parameters a loaded model's <c>MapValue</c> table hands to a saved stage. The table is data in the zip, so
/// a damaged or edited file could hold any floats; each is checked before the stage is rebuilt, so such a file fails
/// with an error naming the contract and the values instead of scoring as a silently different model.
/// </summary>
internal static class SavedParameterChecks
{
    /// <summary>The error for parameters that do not describe a valid stage.</summary>
    public static InvalidDataException Invalid(string contract, float[] parameters, string problem, Exception? inner = null) =>
        new($"{contract}: the saved parameters {Format(parameters)} {problem}; the model file is corrupt or was edited.", inner);

    /// <summary>Throws unless there are exactly <paramref name="length"/> parameters.</summary>
    public static void RequireLength(string contract, float[] parameters, int length)
    {
        if (parameters.Length != length)
        {
            throw Invalid(contract, parameters, $"are {parameters.Length} values, expected {length}");
        }
    }

    /// <summary>The parameter at <paramref name="index"/> as an integer in [<paramref name="min"/>, <paramref name="max"/>], or an error naming it.</summary>
    public static int RequireInteger(string contract, float[] parameters, int index, string name, int min, int max)
    {
        float value = parameters[index];
        if (!float.IsFinite(value) || value != MathF.Floor(value) || value < min || value > max)
        {
            throw Invalid(contract, parameters, $"give {name} = {value.ToString(CultureInfo.InvariantCulture)}, which must be an integer in [{min}, {max}]");
        }

        return (int)value;
    }

    /// <summary>Rebuilds a stage, turning the stage's own argument errors into an error about the saved parameters.</summary>
    public static T Restore<T>(string contract, float[] parameters, Func<float[], T> restore)
    {
        try
        {
            return restore(parameters);
        }
        catch (ArgumentException ex)
        {
            throw Invalid(contract, parameters, $"do not describe a valid stage ({ex.Message})", ex);
        }
    }

    private static string Format(float[] parameters)
    {
        const int Shown = 8;
        var values = parameters.Take(Shown).Select(v => v.ToString("R", CultureInfo.InvariantCulture));
        return $"[{string.Join(", ", values)}{(parameters.Length > Shown ? $", … ({parameters.Length} values)" : "")}]";
    }
}
