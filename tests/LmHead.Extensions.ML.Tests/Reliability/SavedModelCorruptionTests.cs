using System.IO.Compression;
using LmHead.Extensions.MachineLearning;
using LmHead.Extensions.Models;
using LmHead.Extensions.Tests.MachineLearning;
using Microsoft.ML;
using Microsoft.ML.Data;
using static LmHead.Extensions.Tests.MachineLearning.LmHeadTestData;

namespace LmHead.Extensions.Tests.Reliability;

/// <summary>
/// Damaged model zips (docs/reliability.md, "Saved ML.NET models"): <c>LoadLmHeadModel</c> either throws
/// <see cref="ModelFormatException"/> naming the file and the damaged entry, or loads a model that scores exactly as the
/// undamaged one. Nothing else, no hang.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class SavedModelCorruptionTests
{
    private static string _good = null!;
    private static KeyedHiddenRow[] _rows = null!;
    private static List<HeadPrediction> _expected = null!;

    public TestContext TestContext { get; set; } = null!;

    [ClassInitialize]
    public static void SaveAModel(TestContext context)
    {
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        _rows = [.. Rows(6).Select((r, i) => new KeyedHiddenRow { Hidden = r.Hidden, RequestId = i + 11 })];
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(_rows);
        var model = LmHeadSaveLoadTests.KeyedPipeline(ml, weight, bias).Fit(data);
        _good = Path.Combine(Path.GetTempPath(), $"lmhead-corruption-{Guid.NewGuid():N}.zip");
        ml.Model.Save(model, data.Schema, _good);
        _expected = Score(new MLContext(seed: 1).LoadLmHeadModel(_good, out _));
    }

    [ClassCleanup]
    public static void DeleteTheModel() => File.Delete(_good);

    [TestMethod]
    public void EachTruncatedEmptiedOverwrittenOrDeletedEntryIsAModelFormatExceptionNamingIt()
    {
        var entries = Entries().Where(e => e.EndsWith(".key", StringComparison.Ordinal) || e.EndsWith(".idv", StringComparison.Ordinal) || e == "Schema").ToList();
        Assert.IsGreaterThan(40, entries.Count, "the saved head should have dozens of entries");
        var damages = new (string Name, Func<byte[], byte[]?> Damage)[]
        {
            ("truncated to half", bytes => bytes[..(bytes.Length / 2)]),
            ("emptied", _ => []),
            ("first 8 bytes overwritten", bytes => { var copy = bytes.ToArray(); copy.AsSpan(0, 8).Fill(0x5A); return copy; }),
            ("deleted", _ => null),
        };
        int checkedCases = 0;
        foreach (string entry in entries)
        {
            foreach (var (name, damage) in damages)
            {
                if (entry == "Schema" && name == "deleted")
                {
                    continue; // a model saved without an input schema is legal: it loads with a null schema
                }

                string path = Damaged(entry, damage);
                var ex = Assert.ThrowsExactly<ModelFormatException>(() => new MLContext(seed: 1).LoadLmHeadModel(path, out _), $"{entry} {name}");
                Assert.AreEqual(path, ex.FilePath, $"{entry} {name}");
                Assert.AreEqual(entry, ex.Key, $"{entry} {name}: {ex.Message}");
                Assert.IsNotInstanceOfType<System.Reflection.TargetInvocationException>(ex.InnerException, $"{entry} {name}: the inner exception is unwrapped");
                checkedCases++;
                File.Delete(path);
            }
        }

        TestContext.WriteLine($"{checkedCases} damaged entries, each named.");
    }

    [TestMethod]
    public void PlainModelLoadReportsTheSameDamageAsMlNetsWrappedFormatException()
    {
        string path = Damaged("TransformerChain/Transform_001/Transform_003/Model.key", bytes => bytes[..(bytes.Length / 2)]);

        var ex = Assert.Throws<Exception>(() => new MLContext(seed: 1).Model.Load(path, out _));

        // What docs/reliability.md promises users of plain Model.Load: ML.NET's InvalidOperationException
        // ("Error during class instantiation") around TargetInvocationExceptions around a FormatException.
        Assert.IsInstanceOfType<InvalidOperationException>(ex);
        Assert.IsInstanceOfType<FormatException>(LmHeadModelLoading.Unwrap(ex));
        File.Delete(path);
    }

    [TestMethod]
    public void SwappedEntriesAreAnErrorAtLoadNamingTheTransformNotAtTheFirstRow()
    {
        // The temperature's mapping replaced by the key mapping before it: every entry is well formed, the chain is not, and
        // the first transform that misses its input column (the copy back to "Scaled") is named.
        string path = Damaged("TransformerChain/Transform_001/Transform_003/Model.key",
            _ => ReadEntry(_good, "TransformerChain/Transform_001/Transform_001/Model.key"));

        var ex = Assert.ThrowsExactly<ModelFormatException>(() => new MLContext(seed: 1).LoadLmHeadModel(path, out _));

        Assert.AreEqual("TransformerChain/Transform_001/Transform_004/Model.key", ex.Key, ex.Message);
        StringAssert.Contains(ex.Message, SavedColumns.Output);
        File.Delete(path);
    }

    [TestMethod]
    public void SeededRandomByteDamageEndsInModelFormatExceptionOrTheUndamagedOutputs()
    {
        byte[] good = File.ReadAllBytes(_good);
        var random = new Random(20261202);
        int rejected = 0, identical = 0;
        for (int i = 0; i < 150; i++)
        {
            byte[] bytes = good.ToArray();
            for (int flips = 1 + random.Next(4); flips > 0; flips--)
            {
                bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
            }

            string path = Path.Combine(Path.GetTempPath(), $"lmhead-fuzz-{Guid.NewGuid():N}.zip");
            File.WriteAllBytes(path, bytes);
            try
            {
                ITransformer model;
                try
                {
                    model = new MLContext(seed: 1).LoadLmHeadModel(path, out _);
                }
                catch (ModelFormatException ex)
                {
                    Assert.AreEqual(path, ex.FilePath);
                    rejected++;
                    continue;
                }

                AssertSameOutputs(_expected, Score(model), $"case {i}");
                identical++;
            }
            finally
            {
                File.Delete(path);
            }
        }

        TestContext.WriteLine($"150 damaged files: {rejected} rejected with ModelFormatException, {identical} loaded with identical outputs.");
        Assert.IsGreaterThan(0, rejected);
    }

    [TestMethod]
    public void AFlippedBitInsideTheStoredWeightsIsCaughtByTheZipChecksum()
    {
        // .NET's zip reader does not check CRC-32, so this file loads through plain Model.Load with one weight changed.
        const string Weights = "TransformerChain/Transform_000/Transform_005/Model.key"; // ReplaceMissingValues: the stored weights
        byte[] bytes = File.ReadAllBytes(_good);
        long data;
        long compressed;
        using (var zip = ZipFile.OpenRead(_good))
        {
            var entry = zip.GetEntry(Weights)!;
            compressed = entry.CompressedLength;
            Assert.AreEqual((uint)0x04034b50, BitConverter.ToUInt32(bytes, 0), "the zip starts with a local header");
            long local = FindLocalHeader(bytes, Weights);
            data = local + 30 + BitConverter.ToUInt16(bytes, (int)local + 26) + BitConverter.ToUInt16(bytes, (int)local + 28);
        }

        bytes[data + (compressed / 2)] ^= 0x10;
        string path = Path.Combine(Path.GetTempPath(), $"lmhead-crc-{Guid.NewGuid():N}.zip");
        File.WriteAllBytes(path, bytes);

        var ex = Assert.ThrowsExactly<ModelFormatException>(() => new MLContext(seed: 1).LoadLmHeadModel(path, out _));

        Assert.AreEqual(Weights, ex.Key, ex.Message);
        File.Delete(path);
    }

    [TestMethod]
    public void TheChecksumIsTheZipCrc32()
    {
        Assert.AreEqual(0xCBF43926u, ~ZipChecksums.Update(~0u, "123456789"u8));
        byte[] data = [.. Enumerable.Range(0, 1000).Select(i => (byte)(i * 31))];
        uint whole = ZipChecksums.Update(~0u, data);
        Assert.AreEqual(whole, ZipChecksums.Update(ZipChecksums.Update(~0u, data.AsSpan(0, 333)), data.AsSpan(333)), "split anywhere, not only at 8 bytes");
    }

    private static long FindLocalHeader(byte[] bytes, string name)
    {
        byte[] needle = System.Text.Encoding.UTF8.GetBytes(name);
        for (int i = 0; i + 30 + needle.Length <= bytes.Length; i++)
        {
            if (BitConverter.ToUInt32(bytes, i) == 0x04034b50 && bytes.AsSpan(i + 30, needle.Length).SequenceEqual(needle))
            {
                return i;
            }
        }

        throw new AssertFailedException($"no local header for {name}");
    }

    [TestMethod]
    public void CommittedFixturesLoadThroughLoadLmHeadModelWithoutRegistration()
    {
        foreach (string fixture in new[] { "lmhead-head-v1.zip", "lmhead-head-v2.zip" })
        {
            string path = Path.Combine(AppContext.BaseDirectory, "MachineLearning", "Fixtures", fixture);
            var viaRegistration = new MLContext(seed: 3);
            viaRegistration.ComponentCatalog.RegisterAssembly(typeof(LmHeadCatalog).Assembly);
            var expected = viaRegistration.Model.Load(path, out var schema);

            var loaded = new MLContext(seed: 3).LoadLmHeadModel(path, out var loadedSchema);

            Assert.IsNotNull(loadedSchema);
            var input = new MLContext(seed: 3).Data.LoadFromEnumerable(_rows);
            var a = new MLContext().Data.CreateEnumerable<HeadPrediction>(expected.Transform(input), reuseRowObject: false).ToList();
            var b = new MLContext().Data.CreateEnumerable<HeadPrediction>(loaded.Transform(input), reuseRowObject: false).ToList();
            AssertSameOutputs(a, b, fixture);
        }
    }

    internal static List<HeadPrediction> Score(ITransformer model)
    {
        var ml = new MLContext(seed: 1);
        return [.. ml.Data.CreateEnumerable<HeadPrediction>(model.Transform(ml.Data.LoadFromEnumerable(_rows)), reuseRowObject: false)];
    }

    private static void AssertSameOutputs(List<HeadPrediction> expected, List<HeadPrediction> actual, string label)
    {
        Assert.HasCount(expected.Count, actual, label);
        for (int i = 0; i < expected.Count; i++)
        {
            CollectionAssert.AreEqual(expected[i].Logits, actual[i].Logits, $"{label}: logits of row {i}");
            CollectionAssert.AreEqual(expected[i].Probabilities, actual[i].Probabilities, $"{label}: probabilities of row {i}");
            Assert.AreEqual(expected[i].NextToken, actual[i].NextToken, $"{label}: token of row {i}");
        }
    }

    private static List<string> Entries()
    {
        using var zip = ZipFile.OpenRead(_good);
        return [.. zip.Entries.Select(e => e.FullName)];
    }

    private static byte[] ReadEntry(string path, string name)
    {
        using var zip = ZipFile.OpenRead(path);
        using var stream = zip.GetEntry(name)!.Open();
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    /// <summary>A copy of the good model with one entry replaced by <paramref name="damage"/>'s result (deleted if null).</summary>
    private static string Damaged(string entry, Func<byte[], byte[]?> damage)
    {
        string path = Path.Combine(Path.GetTempPath(), $"lmhead-damaged-{Guid.NewGuid():N}.zip");
        File.Copy(_good, path);
        byte[]? replacement = damage(ReadEntry(_good, entry));
        using var zip = ZipFile.Open(path, ZipArchiveMode.Update);
        zip.GetEntry(entry)!.Delete();
        if (replacement is not null)
        {
            using var stream = zip.CreateEntry(entry).Open();
            stream.Write(replacement);
        }

        return path;
    }
}
