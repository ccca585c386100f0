using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using LmHead.Extensions.Models;
using LmHead.Extensions.Tests.Models;

namespace LmHead.Extensions.Tests.Reliability;

/// <summary>
/// A seeded fuzzer over hostile model folders: a valid tiny GPT-2 saved with <see cref="Gpt2Pretrained.Save"/>, then
/// config.json or model.safetensors mutated (invalid JSON, wrong types, bad sizes, missing fields, non-UTF-8 bytes,
/// truncation, bad header lengths, overlapping or out-of-range offsets, bad shapes and dtypes, duplicate keys, byte
/// flips). Every load must succeed or throw <see cref="ModelFormatException"/>; nothing else, no hang, no large
/// allocation and no leaked tensor.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class ModelFolderFuzzTests
{
    /// <summary>Mutated folders per run; each loads in about a millisecond on an idle core.</summary>
    private const int CaseCount = 5000;

    private const int Seed = 20261129;

    private static readonly TimeSpan CaseTimeout = TimeSpan.FromSeconds(20);

    private static readonly string[] SizeKeys = ["n_embd", "n_layer", "n_head", "n_positions", "vocab_size", "n_inner", "bos_token_id", "eos_token_id"];

    private static readonly JsonNode?[] HostileValues =
    [
        -1, 0, 1, 3, int.MaxValue, int.MinValue, 1L << 40, 1_000_000, 65_536, 3.5, -0.0, 1e300, "8", true, null,
        new JsonArray(1, 2), new JsonObject(),
    ];

    private static readonly string[] DTypes = ["F32", "F16", "BF16", "F64", "I32", "I64", "BOOL", "U8", "", "f32"];

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [Timeout(600_000, CooperativeCancellation = true)]
    public void EveryMutatedFolderLoadsOrThrowsAModelFormatException()
    {
        var config = new Gpt2Config
        {
            HiddenSize = 8, LayerCount = 1, HeadCount = 2, MaxPositions = 16, VocabularySize = 50, BosTokenId = 49, EosTokenId = 49,
        };
        string valid = TinyGpt2.CreateFolder(config, seed: 7);
        byte[] configBytes = File.ReadAllBytes(Path.Combine(valid, Gpt2Pretrained.ConfigFileName));
        byte[] weightBytes = File.ReadAllBytes(Path.Combine(valid, Gpt2Pretrained.WeightsFileName));
        string folder = TinyGpt2.NewFolder();
        string configPath = Path.Combine(folder, Gpt2Pretrained.ConfigFileName);
        string weightsPath = Path.Combine(folder, Gpt2Pretrained.WeightsFileName);

        // Warm up (TorchSharp and JSON initialization) so the first case's allocation is not counted.
        Gpt2Pretrained.LoadModel(valid).Dispose();
        Collect();
        long baselinePeakVirtual = ReadStatusKilobytes("VmPeak:");
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        long worstAllocation = 0;
        var clock = Stopwatch.StartNew();

        for (int i = 0; i < CaseCount; i++)
        {
            var random = new Random(Seed + i);
            var (kind, newConfig, newWeights) = Mutate(random, configBytes, weightBytes);
            File.WriteAllBytes(configPath, newConfig);
            File.WriteAllBytes(weightsPath, newWeights);

            long tensorsBefore = TorchSharp.torch.Tensor.TotalCount;
            long allocated = 0;
            var load = Task.Run(() =>
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                try
                {
                    Gpt2Pretrained.LoadModel(folder).Dispose();
                    return "ok";
                }
                finally
                {
                    allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                }
            });

            string outcome;
            try
            {
                Assert.IsTrue(load.Wait(CaseTimeout), $"case {i} ({kind}) did not finish within {CaseTimeout.TotalSeconds} s");
                outcome = load.Result;
            }
            catch (AggregateException ex) when (ex.InnerException is ModelFormatException)
            {
                outcome = "ModelFormatException";
            }
            catch (AggregateException ex)
            {
                Assert.Fail($"case {i} ({kind}, seed {Seed + i}) threw {ex.InnerException!.GetType().Name}: {ex.InnerException.Message}");
                throw;
            }

            Assert.IsFalse(outcome == "ok" && kind.StartsWith(MustReject, StringComparison.Ordinal),
                $"case {i} ({kind}, seed {Seed + i}) loaded a file that misplaces its tensor bytes");
            long limit = (4 * (long)(newConfig.Length + newWeights.Length)) + (4 << 20);
            Assert.IsLessThan(limit, allocated, $"case {i} ({kind}) allocated {allocated} managed bytes for a {newConfig.Length + newWeights.Length}-byte folder");
            worstAllocation = Math.Max(worstAllocation, allocated);
            long leaked = TorchSharp.torch.Tensor.TotalCount - tensorsBefore;
            Assert.IsTrue(leaked == 0 || leaked == ParameterCountDrift(newConfig),
                $"case {i} ({kind}, seed {Seed + i}, {outcome}) left {leaked} tensors alive");
            string key = $"{kind}: {outcome}";
            outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
        }

        Collect();
        long peakVirtualGrowth = ReadStatusKilobytes("VmPeak:") - baselinePeakVirtual;
        foreach (var (key, count) in outcomes.OrderBy(o => o.Key, StringComparer.Ordinal))
        {
            TestContext.WriteLine($"{key} × {count}");
        }

        TestContext.WriteLine($"{CaseCount} cases in {clock.Elapsed.TotalSeconds:0.0} s; worst managed allocation {worstAllocation} bytes; VmPeak growth {peakVirtualGrowth} kB");

        // A native tensor sized by a hostile header or config (gigabytes) would raise the peak virtual size even if
        // its pages were never touched.
        Assert.IsLessThan(1L << 20, peakVirtualGrowth, $"the peak virtual size grew by {peakVirtualGrowth} kB");
        Assert.IsGreaterThan(1, outcomes.Keys.Count(k => k.EndsWith(": ok", StringComparison.Ordinal)), "too few mutations still load; the fuzzer is too blunt");
    }

    /// <summary>
    /// Every file the loader reads, replaced by something that is not a readable regular file. Each must be a
    /// <see cref="ModelFormatException"/> naming that file, within the timeout (a FIFO blocks in open and /dev/zero reads
    /// forever if the loader opens them). Links to a valid copy of the file still load.
    /// </summary>
    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    [DataRow(Gpt2Pretrained.ConfigFileName)]
    [DataRow(Gpt2Pretrained.WeightsFileName)]
    [DataRow(Gpt2Pretrained.VocabularyFileName)]
    [DataRow(Gpt2Pretrained.MergesFileName)]
    public void EveryFileThatIsNotARegularFileIsAModelFormatExceptionWithoutHanging(string fileName)
    {
        Assert.IsFalse(OperatingSystem.IsWindows(), "FIFOs, /dev/zero and POSIX links are Unix cases.");
        string valid = TinyGpt2.CreateFolder(TinyGpt2.Config(vocabularySize: 8), seed: 30);
        File.WriteAllText(Path.Combine(valid, Gpt2Pretrained.VocabularyFileName), TokenizerVocabulary);
        File.WriteAllText(Path.Combine(valid, Gpt2Pretrained.MergesFileName), TokenizerMerges);
        var failures = new List<string>();
        foreach (var (kind, expected) in HostileEntries(fileName))
        {
            string folder = TinyGpt2.NewFolder();
            foreach (var file in Directory.GetFiles(valid))
            {
                File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
            }

            string path = Path.Combine(folder, fileName);
            string fifo = MakeHostile(kind, path, Path.Combine(valid, fileName));
            var load = Task.Run(() => Gpt2Pretrained.Load(folder).Dispose());
            bool finished = Task.WhenAny(load, Task.Delay(TimeSpan.FromSeconds(20))).Result == load || Unblock(fifo, load);
            if (!finished)
            {
                failures.Add($"{fileName} as {kind}: did not finish within 20 s");
            }
            else if (expected is null)
            {
                if (load.IsFaulted)
                {
                    failures.Add($"{fileName} as {kind}: should load, threw {load.Exception!.InnerException}");
                }
            }
            else if (load.Exception?.InnerException is not ModelFormatException ex)
            {
                failures.Add($"{fileName} as {kind}: expected ModelFormatException, got {(load.IsFaulted ? load.Exception!.InnerException!.GetType().Name + ": " + load.Exception.InnerException.Message : "a loaded model")}");
            }
            else if (ex.FilePath != path || !ex.Message.Contains(expected, StringComparison.Ordinal))
            {
                failures.Add($"{fileName} as {kind}: expected FilePath {path} and '{expected}' in the message, got {ex.FilePath}: {ex.Message}");
            }
            else
            {
                TestContext.WriteLine($"{fileName} as {kind}: {ex.Message}");
            }
        }

        Assert.IsEmpty(failures, string.Join("\n", failures));
    }

    private const string TokenizerVocabulary = "{\"h\": 0, \"e\": 1, \"l\": 2, \"o\": 3, \"he\": 4, \"ll\": 5, \"hell\": 6, \"<|endoftext|>\": 7}";
    private const string TokenizerMerges = "#version: 0.2\nh e\nl l\nhe ll\n";

    /// <summary>The hostile replacements for a file and the message fragment each must give (null: must load).</summary>
    private static IEnumerable<(string Kind, string? Expected)> HostileEntries(string fileName)
    {
        yield return ("fifo", "named pipe");
        yield return ("link to fifo", "named pipe");
        yield return ("link to /dev/zero", "character device");
        yield return ("dangling link", "symbolic link");
        yield return ("link loop", "symbolic link");
        yield return ("directory", "directory");
        yield return ("link to a directory", "directory");
        yield return ("relative link to a valid copy", null);
        yield return ("link chain to a valid copy", null);
        if (fileName != Gpt2Pretrained.WeightsFileName)
        {
            yield return ("empty", "empty");
            yield return ("sparse file past the size cap", "at most");
        }
    }

    private static string MakeHostile(string kind, string path, string validCopy)
    {
        File.Delete(path);
        string dir = Path.GetDirectoryName(path)!;
        string fifo = Path.Combine(dir, "pipe");
        switch (kind)
        {
            case "fifo":
                MakeFifo(path);
                return path;
            case "link to fifo":
                MakeFifo(fifo);
                File.CreateSymbolicLink(path, "pipe");
                return fifo;
            case "link to /dev/zero":
                File.CreateSymbolicLink(path, "/dev/zero");
                break;
            case "dangling link":
                File.CreateSymbolicLink(path, Path.Combine(dir, "nowhere"));
                break;
            case "link loop":
                File.CreateSymbolicLink(path, Path.Combine(dir, "loop-b"));
                File.CreateSymbolicLink(Path.Combine(dir, "loop-b"), path);
                break;
            case "directory":
                Directory.CreateDirectory(path);
                break;
            case "link to a directory":
                Directory.CreateDirectory(Path.Combine(dir, "sub"));
                File.CreateSymbolicLink(path, "sub");
                break;
            case "relative link to a valid copy":
                File.Copy(validCopy, Path.Combine(dir, "real"));
                File.CreateSymbolicLink(path, "real");
                break;
            case "link chain to a valid copy":
                File.CreateSymbolicLink(Path.Combine(dir, "hop"), validCopy);
                File.CreateSymbolicLink(path, Path.Combine(dir, "hop"));
                break;
            case "empty":
                File.WriteAllBytes(path, []);
                break;
            case "sparse file past the size cap":
                using (var stream = File.Create(path))
                {
                    stream.WriteByte((byte)'{');
                    stream.SetLength(1L << 30); // sparse: no disk space, 1 GiB of zeros past the cap
                }

                break;
            default:
                throw new ArgumentException(kind, nameof(kind));
        }

        return fifo;
    }

    private static void MakeFifo(string path)
    {
        using var mkfifo = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!;
        Assert.IsTrue(mkfifo.WaitForExit(10_000) && mkfifo.ExitCode == 0, "mkfifo failed");
    }

    /// <summary>A load blocked opening a FIFO is released by opening the other end, so a failing test does not leave a thread stuck.</summary>
    private static bool Unblock(string fifo, Task load)
    {
        if (File.Exists(fifo))
        {
            _ = Task.Run(() =>
            {
                using var writer = new FileStream(fifo, FileMode.Open, FileAccess.Write);
            });
            Task.WhenAny(load, Task.Delay(TimeSpan.FromSeconds(5))).Wait();
        }

        return false;
    }

    /// <summary>
    /// TorchSharp counts a <c>Parameter</c> made from a tensor twice in <c>Tensor.TotalCount</c> and uncounts it once on
    /// disposal (the tensor's handle moves into the parameter), so every model constructed, even one disposed at once,
    /// leaves the count one higher per parameter; the native memory itself is freed. A load that got as far as
    /// constructing the model shows exactly that drift, any other number is a real leak.
    /// </summary>
    private static long ParameterCountDrift(byte[] configBytes)
    {
        try
        {
            var config = Gpt2Config.FromJson(Encoding.UTF8.GetString(configBytes));
            return 4 + (12L * config.LayerCount) + (config.TieWordEmbeddings ? 0 : 1);
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or ArgumentException)
        {
            return 0;
        }
    }

    private static (string Kind, byte[] Config, byte[] Weights) Mutate(Random random, byte[] config, byte[] weights)
    {
        int choice = random.Next(24);
        return choice switch
        {
            0 => ("config truncated", config[..random.Next(config.Length)], weights),
            1 => ("config byte flips", FlipBytes(random, config), weights),
            2 => ("config non-UTF-8", InsertInvalidUtf8(random, config), weights),
            3 => ("config wrong value", MutateConfig(random, config, remove: false), weights),
            4 => ("config missing field", MutateConfig(random, config, remove: true), weights),
            5 => ("config size", SetConfigSize(random, config), weights),
            6 => ("weights truncated", config, weights[..random.Next(weights.Length)]),
            7 => ("weights header length past end", config, WithHeaderLength(weights, (ulong)(weights.Length - 8 + 1 + random.Next(1000)))),
            8 => ("weights huge header length", config, WithHeaderLength(weights, random.Next(3) switch
            {
                0 => ulong.MaxValue,
                1 => 1UL << 63,
                _ => (ulong)random.NextInt64(int.MaxValue, long.MaxValue),
            })),
            9 => ("weights short header length", config, WithHeaderLength(weights, (ulong)random.Next(ReadHeaderLength(weights)))),
            10 => ("weights offsets", config, MutateEntry(random, weights, "offsets")),
            11 => ("weights shape", config, MutateEntry(random, weights, "shape")),
            12 => ("weights dtype", config, MutateEntry(random, weights, "dtype")),
            13 => ("weights duplicate key", config, DuplicateKey(random, weights)),
            14 => ("weights header JSON broken", config, BreakHeaderJson(random, weights)),
            15 => ("weights non-UTF-8 name", config, NonUtf8Name(random, weights)),
            16 => ("weights byte flips", config, FlipBytes(random, weights)),
            17 => ("weights header byte flips", config, FlipHeaderBytes(random, weights)),
            18 => ("weights key renamed or removed", config, MutateEntry(random, weights, "key")),
            19 => ("both", FlipBytes(random, config), FlipHeaderBytes(random, weights)),
            20 => (MustReject + "weights header length off by a few bytes", config, WithHeaderLength(weights, (ulong)(ReadHeaderLength(weights) + NonZero(random, 64)))),
            21 => (MustReject + "weights trailing bytes", config, [.. weights, .. Garbage(random)]),
            22 => (MustReject + "weights hole between tensors", config, InsertHole(random, weights)),
            _ => MalformedTiedHead(random, config, weights),
        };
    }

    /// <summary>Mutations after which the data no longer sits where the header says: loading one is a silent wrong answer.</summary>
    private const string MustReject = "strict: ";

    private static int NonZero(Random random, int range) => (random.Next(2) == 0 ? -1 : 1) * random.Next(1, range + 1);

    /// <summary>1-64 bytes, often spaces or zeros (which a JSON parser or a float reader would not notice).</summary>
    private static byte[] Garbage(Random random)
    {
        byte[] bytes = new byte[random.Next(1, 65)];
        int style = random.Next(3);
        if (style == 2)
        {
            random.NextBytes(bytes);
        }
        else
        {
            bytes.AsSpan().Fill(style == 0 ? (byte)' ' : (byte)0);
        }

        return bytes;
    }

    /// <summary>Moves one tensor (and everything after it) later in the data section, leaving unclaimed bytes before it.</summary>
    private static byte[] InsertHole(Random random, byte[] weights)
    {
        var (header, data) = Split(weights);
        var tensors = header.Where(p => p.Key != "__metadata__")
            .Select(p => (Name: p.Key, Begin: p.Value!["data_offsets"]![0]!.GetValue<long>(), End: p.Value["data_offsets"]![1]!.GetValue<long>()))
            .OrderBy(t => t.Begin).ToList();
        long at = tensors[random.Next(tensors.Count)].Begin;
        byte[] gap = Garbage(random);
        foreach (var (name, begin, end) in tensors.Where(t => t.Begin >= at))
        {
            header[name]!["data_offsets"] = new JsonArray(begin + gap.Length, end + gap.Length);
        }

        return Join(Encoding.UTF8.GetBytes(header.ToJsonString()), [.. data[..(int)at], .. gap, .. data[(int)at..]]);
    }

    /// <summary>A tied model given an extra lm_head.weight: wte itself (loads), or one of the wrong shape or values (rejected).</summary>
    private static (string Kind, byte[] Config, byte[] Weights) MalformedTiedHead(Random random, byte[] config, byte[] weights)
    {
        var (header, data) = Split(weights);
        var wte = header["transformer.wte.weight"]!;
        long begin = wte["data_offsets"]![0]!.GetValue<long>(), end = wte["data_offsets"]![1]!.GetValue<long>();
        byte[] head = data[(int)begin..(int)end];
        long[] shape = [.. wte["shape"]!.AsArray().Select(n => n!.GetValue<long>())];
        int variant = random.Next(4);
        string kind = variant switch
        {
            0 => "tied head equal to wte",
            1 => MustReject + "tied head of the wrong shape",
            2 => MustReject + "tied head with other values",
            _ => MustReject + "tied head cut short",
        };
        if (variant == 1)
        {
            (shape[0], shape[1]) = (shape[1], shape[0]);
            if (shape[0] == shape[1])
            {
                shape = [shape[0] * shape[1]];
            }
        }
        else if (variant == 2)
        {
            head[random.Next(head.Length / 4) * 4] ^= 0x01; // the lowest mantissa bit of one value
        }
        else if (variant == 3)
        {
            shape[0] -= 1;
            head = head[..^(int)(4 * shape[1])];
        }

        header["lm_head.weight"] = new JsonObject
        {
            ["dtype"] = "F32",
            ["shape"] = new JsonArray([.. shape.Select(d => (JsonNode)d)]),
            ["data_offsets"] = new JsonArray(data.Length, data.Length + head.Length),
        };
        return (kind, config, Join(Encoding.UTF8.GetBytes(header.ToJsonString()), [.. data, .. head]));
    }

    private static byte[] FlipBytes(Random random, byte[] bytes)
    {
        byte[] copy = (byte[])bytes.Clone();
        int flips = 1 + random.Next(8);
        for (int i = 0; i < flips; i++)
        {
            copy[random.Next(copy.Length)] ^= (byte)(1 << random.Next(8));
        }

        return copy;
    }

    private static byte[] FlipHeaderBytes(Random random, byte[] weights)
    {
        byte[] copy = (byte[])weights.Clone();
        int headerEnd = 8 + ReadHeaderLength(weights);
        int flips = 1 + random.Next(4);
        for (int i = 0; i < flips; i++)
        {
            copy[random.Next(headerEnd)] = (byte)random.Next(256);
        }

        return copy;
    }

    private static byte[] InsertInvalidUtf8(Random random, byte[] bytes)
    {
        byte[][] invalid = [[0xFF], [0xC3, 0x28], [0xE2, 0x82], [0xF0, 0x28, 0x8C, 0xBC], [0xC0, 0xAF]];
        byte[] bad = invalid[random.Next(invalid.Length)];
        int at = random.Next(bytes.Length + 1);
        return [.. bytes[..at], .. bad, .. bytes[at..]];
    }

    private static byte[] MutateConfig(Random random, byte[] config, bool remove)
    {
        var node = JsonNode.Parse(config)!.AsObject();
        string[] keys = [.. node.Select(p => p.Key)];
        string key = keys[random.Next(keys.Length)];
        if (remove)
        {
            node.Remove(key);
        }
        else
        {
            node[key] = HostileValues[random.Next(HostileValues.Length)]?.DeepClone();
        }

        return Encoding.UTF8.GetBytes(node.ToJsonString());
    }

    private static byte[] SetConfigSize(Random random, byte[] config)
    {
        var node = JsonNode.Parse(config)!.AsObject();
        long[] sizes = [-1, 0, 1, 2, 7, 16, 49, 50, 51, 1 << 16, 1 << 20, int.MaxValue / 4, int.MaxValue];
        node[SizeKeys[random.Next(SizeKeys.Length)]] = sizes[random.Next(sizes.Length)];
        return Encoding.UTF8.GetBytes(node.ToJsonString());
    }

    private static int ReadHeaderLength(byte[] weights) => (int)BinaryPrimitives.ReadUInt64LittleEndian(weights);

    private static byte[] WithHeaderLength(byte[] weights, ulong length)
    {
        byte[] copy = (byte[])weights.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(copy, length);
        return copy;
    }

    private static (JsonObject Header, byte[] Data) Split(byte[] weights)
    {
        int length = ReadHeaderLength(weights);
        var header = JsonNode.Parse(weights.AsSpan(8, length))!.AsObject();
        return (header, weights[(8 + length)..]);
    }

    private static byte[] Join(byte[] headerBytes, byte[] data)
    {
        byte[] result = new byte[8 + headerBytes.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)headerBytes.Length);
        headerBytes.CopyTo(result, 8);
        data.CopyTo(result, 8 + headerBytes.Length);
        return result;
    }

    private static byte[] MutateEntry(Random random, byte[] weights, string what)
    {
        var (header, data) = Split(weights);
        string[] names = [.. header.Select(p => p.Key).Where(k => k != "__metadata__")];
        string name = names[random.Next(names.Length)];
        var entry = header[name]!.AsObject();
        switch (what)
        {
            case "offsets":
                long[] interesting = [-1, 0, 4, data.Length, data.Length + 4, long.MaxValue, int.MaxValue, random.Next(data.Length)];
                var offsets = entry["data_offsets"]!.AsArray();
                int which = random.Next(3);
                if (which == 2)
                {
                    // Overlap the previous tensor or run past the end by a few bytes, keeping the length.
                    long begin = offsets[0]!.GetValue<long>(), end = offsets[1]!.GetValue<long>();
                    long shift = random.Next(2) == 0 ? -random.Next(1, 64) : data.Length - end + random.Next(1, 64);
                    entry["data_offsets"] = new JsonArray(begin + shift, end + shift);
                }
                else
                {
                    offsets[which] = interesting[random.Next(interesting.Length)];
                }

                break;
            case "shape":
                long[] dims = [-1, 0, 1, 2, 3, 1L << 31, 1L << 40, long.MaxValue, 1L << 62];
                var shape = entry["shape"]!.AsArray();
                int rank = random.Next(4);
                if (rank == 0 || shape.Count == 0)
                {
                    shape.Add(dims[random.Next(dims.Length)]);
                }
                else if (rank == 1)
                {
                    shape.Clear();
                }
                else if (rank == 2)
                {
                    entry["shape"] = new JsonArray([.. Enumerable.Range(0, 1 + random.Next(200)).Select(_ => (JsonNode?)1)]);
                }
                else
                {
                    shape[random.Next(shape.Count)] = dims[random.Next(dims.Length)];
                }

                break;
            case "dtype":
                entry["dtype"] = DTypes[random.Next(DTypes.Length)];
                break;
            default:
                var value = entry.DeepClone();
                header.Remove(name);
                if (random.Next(2) == 0)
                {
                    header[random.Next(2) == 0 ? "transformer.h.7.mlp.c_fc.weight" : name[..^1]] = value;
                }

                break;
        }

        return Join(Encoding.UTF8.GetBytes(header.ToJsonString()), data);
    }

    private static byte[] DuplicateKey(Random random, byte[] weights)
    {
        var (header, data) = Split(weights);
        string[] names = [.. header.Select(p => p.Key)];
        string name = names[random.Next(names.Length)];
        string json = header.ToJsonString();
        string duplicate = $"\"{name}\":{header[name]!.ToJsonString()},";
        return Join(Encoding.UTF8.GetBytes(json.Insert(1, duplicate)), data);
    }

    private static byte[] BreakHeaderJson(Random random, byte[] weights)
    {
        var (header, data) = Split(weights);
        string json = header.ToJsonString();
        string broken = random.Next(4) switch
        {
            0 => json[..random.Next(json.Length)],
            1 => json.Insert(random.Next(json.Length), "{[\","[random.Next(4)].ToString()),
            2 => "null",
            _ => json.Replace(":", "=", StringComparison.Ordinal),
        };
        return Join(Encoding.UTF8.GetBytes(broken), data);
    }

    private static byte[] NonUtf8Name(Random random, byte[] weights)
    {
        var (header, data) = Split(weights);
        byte[] json = Encoding.UTF8.GetBytes(header.ToJsonString());
        string[] names = [.. header.Select(p => p.Key).Where(k => k != "__metadata__")];
        byte[] name = Encoding.UTF8.GetBytes("\"" + names[random.Next(names.Length)] + "\"");
        int at = json.AsSpan().IndexOf(name);
        json[at + 1 + random.Next(name.Length - 2)] = (byte)(0x80 + random.Next(0x80));
        return Join(json, data);
    }

    private static long ReadStatusKilobytes(string field)
    {
        if (!File.Exists("/proc/self/status"))
        {
            return 0;
        }

        string? line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
        return line is not null && long.TryParse(line[field.Length..].Trim().Split(' ')[0], out long value) ? value : 0;
    }

    private static void Collect()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }
}
