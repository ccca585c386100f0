using System.Reflection;
using LmHead.Extensions.MachineLearning;
using LmHead.Extensions.Models;

namespace Microsoft.ML;

/// <summary>
/// Loads a saved ML.NET model that holds LM-head stages, with one clear error for a damaged file: a
/// <see cref="ModelFormatException"/> naming the file and the zip entry, instead of ML.NET's nested
/// <see cref="TargetInvocationException"/>s around a <see cref="FormatException"/> that names neither.
/// </summary>
/// <remarks>
/// An extension of <see cref="MLContext"/> rather than of <see cref="ModelOperationsCatalog"/>: registering this
/// package with the context's component catalog needs the context, which the model catalog does not expose.
/// </remarks>
public static class LmHeadModelLoading
{
    private const string StreamSource = "(stream)";

    /// <summary>
    /// Loads a model saved with <c>mlContext.Model.Save</c> and checks that its transforms fit together; also loads
    /// files saved before the ML.NET package split (it registers this package with the context).
    /// </summary>
    /// <param name="mlContext">The context to load into.</param>
    /// <param name="filePath">The model zip.</param>
    /// <param name="inputSchema">The input schema saved with the model, or <see langword="null"/> if it was saved without one.</param>
    /// <returns>The loaded model.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="mlContext"/> or <paramref name="filePath"/> is null.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ModelFormatException">The file is not a loadable model: <see cref="ModelFormatException.FilePath"/> is the
    /// file, <see cref="ModelFormatException.Key"/> the damaged or missing zip entry when one is found, and the inner
    /// exception ML.NET's own error with its wrappers removed.</exception>
    public static ITransformer LoadLmHeadModel(this MLContext mlContext, string filePath, out DataViewSchema? inputSchema)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(filePath);
        using var stream = File.OpenRead(filePath);
        return Load(mlContext, stream, filePath, out inputSchema);
    }

    /// <summary>Loads a model from a stream; see <see cref="LoadLmHeadModel(MLContext, string, out DataViewSchema?)"/>.</summary>
    /// <param name="mlContext">The context to load into.</param>
    /// <param name="stream">The model zip, read from its current position; a stream that cannot seek is copied to memory first.</param>
    /// <param name="inputSchema">The input schema saved with the model, or <see langword="null"/> if it was saved without one.</param>
    /// <returns>The loaded model.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="mlContext"/> or <paramref name="stream"/> is null.</exception>
    /// <exception cref="ModelFormatException">The stream does not hold a loadable model (file path <c>(stream)</c>; see the
    /// file overload).</exception>
    public static ITransformer LoadLmHeadModel(this MLContext mlContext, Stream stream, out DataViewSchema? inputSchema)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(stream);
        if (stream.CanSeek)
        {
            return Load(mlContext, stream, StreamSource, out inputSchema);
        }

        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        copy.Position = 0;
        return Load(mlContext, copy, StreamSource, out inputSchema);
    }

    private static ITransformer Load(MLContext mlContext, Stream stream, string source, out DataViewSchema? inputSchema)
    {
        // Files saved before the package split name the core assembly, which no longer holds the mappings.
        mlContext.ComponentCatalog.RegisterAssembly(typeof(LmHeadCatalog).Assembly);
        long start = stream.Position;
        CheckChecksums(stream, start, source);
        stream.Position = start;
        ITransformer model;
        try
        {
            model = mlContext.Model.Load(stream, out inputSchema);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            var cause = Unwrap(ex);
            if (Diagnose(stream, start) is { } damaged)
            {
                throw new ModelFormatException(
                    source, damaged.Entry, $"the model zip is damaged: {damaged.Problem}. ML.NET reported: {cause.GetType().Name}: {cause.Message}", cause);
            }

            throw new ModelFormatException(source, null, $"ML.NET could not load the model: {cause.GetType().Name}: {cause.Message}", cause);
        }

        if (inputSchema is not null)
        {
            CheckSchemas(model, inputSchema, "TransformerChain", source);
        }

        return model;
    }

    /// <summary>Throws naming the first entry whose data does not match its CRC-32 (which neither .NET's zip reader nor ML.NET checks).</summary>
    private static void CheckChecksums(Stream stream, long start, string source)
    {
        (string Entry, string Problem)? mismatch;
        try
        {
            mismatch = ZipChecksums.FindMismatch(stream);
        }
        catch (Exception ex) when (ex is InvalidDataException or NotSupportedException or IOException)
        {
            // Not readable as a zip, or an entry that does not inflate: ML.NET's load fails next and is diagnosed.
            stream.Position = start;
            return;
        }

        if (mismatch is { } damaged)
        {
            throw new ModelFormatException(source, damaged.Entry, $"the model zip is damaged: {damaged.Problem}.");
        }
    }

    private static (string Entry, string Problem)? Diagnose(Stream stream, long start)
    {
        try
        {
            stream.Position = start;
            return SavedModelDiagnosis.FindDamagedEntry(stream);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or NotSupportedException or ArgumentException or FormatException)
        {
            return null; // the file is too damaged to say which entry; the caller reports ML.NET's error without one
        }
    }

    /// <summary>
    /// Runs the saved input schema through every transform, so an entry whose column names were damaged (it still
    /// loads) is an error now, naming its entry, instead of when the first row is read.
    /// </summary>
    private static DataViewSchema CheckSchemas(ITransformer transformer, DataViewSchema schema, string directory, string source)
    {
        if (transformer is IEnumerable<ITransformer> chain)
        {
            int index = 0;
            foreach (var child in chain)
            {
                schema = CheckSchemas(child, schema, $"{directory}/Transform_{index++:000}", source);
            }

            return schema;
        }

        try
        {
            return transformer.GetOutputSchema(schema);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new ModelFormatException(
                source, $"{directory}/Model.key", $"the saved transform does not accept the columns the transforms before it produce: {ex.Message}", ex);
        }
    }

    /// <summary>Removes the reflection and "Error during class instantiation" layers ML.NET puts around a load error.</summary>
    internal static Exception Unwrap(Exception exception)
    {
        while (exception.InnerException is { } inner
            && (exception is TargetInvocationException
                || (exception is InvalidOperationException && exception.Message.StartsWith("Error during class instantiation", StringComparison.Ordinal))))
        {
            exception = inner;
        }

        return exception;
    }
}
