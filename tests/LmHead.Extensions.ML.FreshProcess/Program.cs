// Usage: LmHead.Extensions.ML.FreshProcess <model.zip> <register|no-register> <rows.json> <result.json>
//    or: LmHead.Extensions.ML.FreshProcess serve <chain.zip> <modelFolder> <prompt> <maxNewTokens> <result.txt>
// The second form loads an ML.NET decoding chain, serves it with Semantic Kernel and writes the prompt's text.
// rows.json: [{"Hidden":[...],"RequestId":n}, ...]. Writes {"MlAssemblyLoadedBeforeLoad":bool,"Error":string?,"Rows":[...]}.
// Nothing from LmHead.Extensions.ML is touched before Model.Load unless "register" is given, which registers the
// assembly with the context's component catalog first (what files saved before the package split need).
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.SemanticKernel;

if (args[0] == "serve")
{
    await Serving.ServeAsync(args[1], args[2], args[3], int.Parse(args[4], System.Globalization.CultureInfo.InvariantCulture), args[5]);
    return;
}

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

internal static class Serving
{
    // A method of its own, so the row-scoring mode above does not load LmHead.Extensions.ML before Model.Load.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static async Task ServeAsync(string chainPath, string modelFolder, string prompt, int maxNewTokens, string resultPath)
    {
        var chain = new MLContext(seed: 0).Model.Load(chainPath, out _);
        var kernel = Kernel.CreateBuilder()
            .AddLmHeadTextGeneration(modelFolder, chain.ToDecodingPipeline(), modelId: "served-chain").Build();
        var settings = new LmHead.Extensions.SemanticKernel.Settings.LmHeadPromptExecutionSettings(
            new LmHead.Extensions.Generation.GenerationOptions { MaxNewTokens = maxNewTokens });
        var text = await kernel.InvokePromptAsync(prompt, new KernelArguments(settings));
        await File.WriteAllTextAsync(resultPath, text.ToString());
    }
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
