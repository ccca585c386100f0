// Usage: LmHead.Extensions.ML.FreshProcess <model.zip> <register|no-register> <rows.json> <result.json>
// rows.json: [{"Hidden":[...],"RequestId":n}, ...]. Writes {"MlAssemblyLoadedBeforeLoad":bool,"Error":string?,"Rows":[...]}.
// Nothing from LmHead.Extensions.ML is touched before Model.Load unless "register" is given, which registers the
// assembly with the context's component catalog first (what files saved before the package split need).
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;

string modelPath = args[0];
bool register = args[1] == "register";
var rows = JsonSerializer.Deserialize<List<InputRow>>(File.ReadAllText(args[2]))!;
bool loadedBefore = AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name == "LmHead.Extensions.ML");
var result = new Result { MlAssemblyLoadedBeforeLoad = loadedBefore };
try
{
    var ml = new MLContext(seed: 5);
    if (register)
    {
        Registration.RegisterLmHead(ml);
    }

    var model = ml.Model.Load(modelPath, out _);
    var definition = SchemaDefinition.Create(typeof(InputRow));
    definition[nameof(InputRow.Hidden)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, rows[0].Hidden.Length);
    var data = ml.Data.LoadFromEnumerable(rows, definition);
    result.Rows = [.. ml.Data.CreateEnumerable<OutputRow>(model.Transform(data), reuseRowObject: false)];
}
catch (Exception ex)
{
    var inner = ex;
    while (inner.InnerException is not null)
    {
        inner = inner.InnerException;
    }

    result.Error = inner.Message;
}

File.WriteAllText(args[3], JsonSerializer.Serialize(result));

internal static class Registration
{
    // A method of its own, so compiling the top-level code does not load LmHead.Extensions.ML through the type token.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void RegisterLmHead(MLContext ml) => ml.ComponentCatalog.RegisterAssembly(typeof(LmHeadCatalog).Assembly);
}

internal sealed class InputRow
{
    public float[] Hidden { get; set; } = [];

    public long RequestId { get; set; }
}

internal sealed class OutputRow
{
    public float[] Logits { get; set; } = [];

    public uint NextToken { get; set; }

    public float NextTokenProbability { get; set; }
}

internal sealed class Result
{
    public bool MlAssemblyLoadedBeforeLoad { get; set; }

    public string? Error { get; set; }

    public List<OutputRow> Rows { get; set; } = [];
}
