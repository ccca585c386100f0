using System.Reflection.Metadata;

namespace LmHead.Extensions.Docs.Tests;

/// <summary>
/// The three packages' symbols carry their sources: every document a library's pdb names has its text embedded, so a
/// debugger steps into the library from the .snupkg with no source server. (.ci/package-smoke checks each .nupkg
/// carries the README and packs without warnings.)
/// </summary>
[TestClass]
public sealed class PackageSymbolsTests
{
    // The EmbeddedSource kind of Portable PDB custom debug information.
    private static readonly Guid EmbeddedSource = new("0E8A571B-6926-466E-B4AD-8AB04611F5FE");

    [TestMethod]
    [DataRow("LmHead.Extensions")]
    [DataRow("LmHead.Extensions.ML")]
    [DataRow("LmHead.Extensions.SemanticKernel")]
    [DataRow("LmHead.Extensions.Server")]
    public void EverySourceFileIsEmbeddedInTheLibrarysPdb(string library)
    {
        string pdb = Path.Combine(AppContext.BaseDirectory, library + ".pdb");
        Assert.IsTrue(File.Exists(pdb), pdb);
        using var stream = File.OpenRead(pdb);
        using var provider = MetadataReaderProvider.FromPortablePdbStream(stream);
        var reader = provider.GetMetadataReader();

        var documents = reader.Documents.ToArray();
        var missing = documents
            .Where(handle => !reader.GetCustomDebugInformation(handle).Any(info => reader.GetGuid(reader.GetCustomDebugInformation(info).Kind) == EmbeddedSource))
            .Select(handle => reader.GetString(reader.GetDocument(handle).Name))
            .ToArray();

        Assert.IsGreaterThan(10, documents.Length, $"{library}.pdb names only {documents.Length} documents.");
        Assert.IsEmpty(missing, $"Sources not embedded in {library}.pdb:\n{string.Join('\n', missing)}");
    }
}
