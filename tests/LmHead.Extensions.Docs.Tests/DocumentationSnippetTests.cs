using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace LmHead.Extensions.Docs.Tests;

/// <summary>
/// Every <c>```csharp</c> block of README.md and docs/*.md compiles as shown, as the Program.cs of a new console app
/// (implicit usings on) that references LmHead.Extensions, LmHead.Extensions.ML, LmHead.Extensions.SemanticKernel,
/// LmHead.Extensions.Server (with ASP.NET Core), TorchSharp-cpu and Microsoft.SemanticKernel.Core. A snippet a user
/// would copy must not be a fragment.
/// </summary>
[TestClass]
public sealed partial class DocumentationSnippetTests
{
    // What `dotnet new console` with <ImplicitUsings>enable</ImplicitUsings> puts in scope.
    private const string ImplicitUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Net.Http;
        global using System.Threading;
        global using System.Threading.Tasks;
        """;

    private static readonly Lazy<MetadataReference[]> References = new(() =>
    {
        var platform = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        var local = Directory.GetFiles(AppContext.BaseDirectory, "*.dll");
        return [.. platform.Concat(local)
            .Where(IsManagedAssembly)
            .GroupBy(Path.GetFileName, StringComparer.OrdinalIgnoreCase)
            .Select(g => MetadataReference.CreateFromFile(g.First()))];
    });

    public static IEnumerable<object[]> Snippets()
    {
        string root = RepositoryRoot();
        var files = new[] { Path.Combine(root, "README.md") }.Concat(Directory.GetFiles(Path.Combine(root, "docs"), "*.md").Order());
        foreach (string file in files)
        {
            string[] lines = File.ReadAllLines(file);
            for (int i = 0; i < lines.Length; i++)
            {
                if (lines[i].Trim() != "```csharp")
                {
                    continue;
                }

                int start = i + 1;
                int end = start;
                while (end < lines.Length && lines[end].Trim() != "```")
                {
                    end++;
                }

                yield return [$"{Path.GetRelativePath(root, file)}:{start}", string.Join('\n', lines[start..end])];
                i = end;
            }
        }
    }

    [TestMethod]
    public void TheDocumentationHasSnippetsToCheck() =>
        Assert.IsGreaterThanOrEqualTo(10, Snippets().Count(), "The snippet reader found too few ```csharp blocks; did the fence style change?");

    [TestMethod]
    [DynamicData(nameof(Snippets))]
    public void EverySnippetCompilesAsShown(string where, string code)
    {
        var options = new CSharpParseOptions(LanguageVersion.Latest);
        var compilation = CSharpCompilation.Create(
            "Snippet",
            [CSharpSyntaxTree.ParseText(ImplicitUsings, options), CSharpSyntaxTree.ParseText(code, options, path: where)],
            References.Value,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
        using var output = new MemoryStream();
        var errors = compilation.Emit(output).Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToArray();
        Assert.IsEmpty(errors, $"{where} does not compile:\n{string.Join('\n', errors.Select(e => e.ToString()))}\n--- snippet ---\n{code}");
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "LmHead.Extensions.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No LmHead.Extensions.sln above {AppContext.BaseDirectory}.");
    }

    private static bool IsManagedAssembly(string path)
    {
        try
        {
            _ = System.Reflection.AssemblyName.GetAssemblyName(path);
            return true;
        }
        catch (BadImageFormatException)
        {
            return false;
        }
    }
}
