using System.Numerics;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using LmHead.Extensions.Decoding.Cpu;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// Builds a <see cref="LlamaModel"/> from <c>model.safetensors</c> or from the shards a
/// <c>model.safetensors.index.json</c> lists. Every header is read and every stored tensor matched against the model
/// (name, shape) before the model is allocated or any tensor data read. Then a CPU parameter whose stored dtype is its
/// own becomes a view of the memory-mapped file (<see cref="SafeTensorsMapping"/>, on Linux), else the tensor is read
/// once, straight into its parameter when the dtypes agree (else through one temporary tensor of its own size); every
/// one is checked for NaN and infinity. The whole checkpoint is never held twice.
/// </summary>
internal static partial class LlamaWeightLoader
{
    private const string HeadKey = "lm_head.weight";
    private const string EmbeddingKey = "model.embed_tokens.weight";

    /// <summary>A stored tensor and the shard holding it.</summary>
    private sealed record Located(string Path, long DataStart, SafeTensorsFile.Entry Entry);

    /// <summary>Loads the weights of a folder into a new model; the caller owns it.</summary>
    /// <exception cref="ModelFormatException">A file is missing or malformed, or a tensor is missing, unknown or of the wrong shape; the message names it.</exception>
    internal static LlamaModel Load(LlamaConfig config, string directory, ScalarType dtype, Device? device)
    {
        var stored = ReadHeaders(directory);
        string anyPath = stored.Values.FirstOrDefault()?.Path ?? Path.Combine(directory, LlamaPretrained.WeightsFileName);
        RequireEnoughStoredValues(config, anyPath, stored.Values);
        var model = new LlamaModel(config, dtype, device, initialise: false);
        try
        {
            CopyWeights(model, stored);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Every stored tensor by name, from the single file or from every shard of the index.</summary>
    private static Dictionary<string, Located> ReadHeaders(string directory)
    {
        string single = Path.Combine(directory, LlamaPretrained.WeightsFileName);
        string index = Path.Combine(directory, LlamaPretrained.WeightsIndexFileName);
        string[] files;
        if (ModelFile.IsPresent(single))
        {
            files = [single];
        }
        else if (ModelFile.IsPresent(index))
        {
            files = [.. ReadShardNames(index).Select(name => Path.Combine(directory, name))];
        }
        else
        {
            throw new ModelFormatException(single, null, $"the folder has neither {LlamaPretrained.WeightsFileName} nor {LlamaPretrained.WeightsIndexFileName}.");
        }

        var stored = new Dictionary<string, Located>(StringComparer.Ordinal);
        foreach (string file in files)
        {
            if (!ModelFile.IsPresent(file))
            {
                throw new ModelFormatException(file, null, $"{LlamaPretrained.WeightsIndexFileName} lists this shard, but the folder does not have it.");
            }

            ModelFile.RequireRegularFile(file);
            var entries = SafeTensorsFile.ReadHeader(file, out long dataStart);
            foreach (var entry in entries)
            {
                if (!stored.TryAdd(entry.Name, new Located(file, dataStart, entry)))
                {
                    throw new ModelFormatException(file, entry.Name, $"the tensor is stored twice (also in '{Path.GetFileName(stored[entry.Name].Path)}').");
                }
            }
        }

        return stored;
    }

    /// <summary>The distinct shard file names of an index's <c>weight_map</c>, each a plain file name in the folder.</summary>
    private static string[] ReadShardNames(string indexPath)
    {
        using var document = ConfigJson.Parse(indexPath);
        if (document.RootElement.ValueKind != JsonValueKind.Object
            || !document.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
        {
            throw new ModelFormatException(indexPath, "weight_map", "the index has no weight_map object.");
        }

        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var property in map.EnumerateObject())
        {
            string? name = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString() : null;
            if (string.IsNullOrEmpty(name) || name != Path.GetFileName(name) || name is "." or "..")
            {
                throw new ModelFormatException(indexPath, "weight_map." + property.Name,
                    $"names shard {property.Value.GetRawText()}; a shard must be a file name in the model folder.");
            }

            names.Add(name);
        }

        return names.Count > 0 ? [.. names] : throw new ModelFormatException(indexPath, "weight_map", "the index lists no shard.");
    }

    /// <summary>
    /// Rejects a config.json whose sizes need more values than the files hold before the model is allocated, so a
    /// hostile <c>vocab_size</c> cannot make a small folder allocate gigabytes. A lower bound: a valid checkpoint passes.
    /// </summary>
    private static void RequireEnoughStoredValues(LlamaConfig config, string path, IEnumerable<Located> stored)
    {
        // Only the embedding and the MLPs: loose enough that a folder missing any other tensor reaches the error naming it.
        double d = config.HiddenSize;
        double needed = (config.VocabularySize * d) + (config.LayerCount * 3 * d * config.IntermediateSize);
        double held = stored.Sum(s => s.Entry.Shape.Aggregate(1.0, (product, size) => product * size));
        if (needed > held)
        {
            throw new ModelFormatException(path, null,
                $"config.json describes a model with at least {needed:0} weights but the files store only {held:0} values (wrong config.json, or missing shards).");
        }
    }

    private static void CopyWeights(LlamaModel model, Dictionary<string, Located> stored)
    {
        var expected = model.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        Located? tiedHead = null;
        foreach (var (name, located) in stored)
        {
            if (RotaryBuffer().IsMatch(name))
            {
                continue; // the inv_freq buffers older checkpoints carry; the model computes its own
            }

            if (name == HeadKey && model.Config.TieWordEmbeddings)
            {
                tiedHead = located;
                continue;
            }

            if (!expected.TryGetValue(name, out var parameter))
            {
                throw new ModelFormatException(located.Path, name, $"unknown tensor: a {model.Config.ModelType} model with this config.json has no such parameter.");
            }

            RequireShape(located.Path, name, located.Entry.Shape, parameter.shape, "config.json implies");
        }

        foreach (var name in expected.Keys.Where(name => !stored.ContainsKey(name)))
        {
            string path = stored.Values.FirstOrDefault()?.Path ?? LlamaPretrained.WeightsFileName;
            throw new ModelFormatException(path, name, name == HeadKey
                ? $"missing tensor: config.json sets tie_word_embeddings to false, so the head needs its own '{HeadKey}'."
                : $"missing tensor '{name}'.");
        }

        if (tiedHead is not null)
        {
            RequireShape(tiedHead.Path, HeadKey, tiedHead.Entry.Shape, expected[EmbeddingKey].shape, $"config.json ties the head to {EmbeddingKey}, of shape");
        }

        // The tensors are read by as many workers as there are cores (at most 4), each with its own stream, the largest
        // tensors dealt out first: one thread copies from the page cache at a fraction of what memory can take.
        var names = expected.Keys.OrderByDescending(name => stored[name].Entry.End - stored[name].Entry.Begin).ToArray();
        using var mapping = new SafeTensorsMapping();
        var views = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (string name in names)
            {
                var (located, parameter) = (stored[name], expected[name]);
                if (located.Entry.DType == parameter.dtype && parameter.device.type == DeviceType.CPU
                    && mapping.TryView(located.Path, located.DataStart, located.Entry) is { } view)
                {
                    views.Add(name, view);
                }
            }

            ReadAll(names, stored, expected, views);
        }
        finally
        {
            foreach (var view in views.Values)
            {
                view.Dispose();
            }
        }

        if (tiedHead is not null)
        {
            RequireSameValues(tiedHead, expected[EmbeddingKey]);
        }
    }

    /// <summary>Reads (or takes the mapped view of) every named tensor, by as many workers as there are cores, at most 4.</summary>
    private static void ReadAll(string[] names, Dictionary<string, Located> stored, Dictionary<string, Parameter> expected, Dictionary<string, Tensor> views)
    {
        int workers = Math.Clamp(Environment.ProcessorCount, 1, Math.Min(4, names.Length));
        var parts = Enumerable.Range(0, workers).Select(w => names.Where((_, i) => i % workers == w).ToArray()).ToArray();
        try
        {
            Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, w =>
            {
                using var noGrad = no_grad();
                var streams = new Dictionary<string, FileStream>();
                try
                {
                    foreach (string name in parts[w])
                    {
                        var located = stored[name];
                        if (views.TryGetValue(name, out var view))
                        {
                            TakeView(located, expected[name], view);
                            continue;
                        }

                        if (!streams.TryGetValue(located.Path, out var stream))
                        {
                            stream = ModelFile.OpenRead(located.Path);
                            streams.Add(located.Path, stream);
                        }

                        ReadInto(stream, located, expected[name]);
                    }
                }
                finally
                {
                    foreach (var stream in streams.Values)
                    {
                        stream.Dispose();
                    }
                }
            });
        }
        catch (AggregateException ex) when (ex.InnerExceptions.Count > 0)
        {
            // The first worker's error, as the sequential loop reported it (ModelFormatException naming file and tensor).
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex.InnerExceptions[0]).Throw();
            throw;
        }
    }

    /// <summary>Checks a mapped tensor (its pages are read from the file here, once) and makes it the parameter's storage.</summary>
    private static unsafe void TakeView(Located located, Parameter parameter, Tensor view)
    {
        byte* start = Gpt2DecodeStep.Address(view);
        long length = view.NumberOfElements * view.ElementSize;
        long bad = 0;
        for (long offset = 0; offset < length; offset += ScanChunkBytes)
        {
            bad += CountNonFinite(new ReadOnlySpan<byte>(start + offset, (int)Math.Min(ScanChunkBytes, length - offset)), view.dtype);
        }

        ThrowIfNonFinite(located.Path, located.Entry.Name, view.dtype, bad);
        using var noGrad = no_grad();
        parameter.set_(view);
    }

    /// <summary>Reads a stored tensor into a parameter: straight into its memory when dtype and device allow, else converted.</summary>
    private static void ReadInto(FileStream stream, Located located, Parameter parameter)
    {
        var entry = located.Entry;
        if (entry.DType == parameter.dtype && parameter.device.type == DeviceType.CPU && parameter.is_contiguous())
        {
            TransparentHugePages.Advise(parameter);
            long bad = 0;
            try
            {
                stream.Position = located.DataStart + entry.Begin;
                var target = parameter.bytes;
                for (int offset = 0; offset < target.Length; offset += ScanChunkBytes)
                {
                    // Checked while the chunk is still in the cache: one pass over memory instead of two.
                    var chunk = target.Slice(offset, Math.Min(ScanChunkBytes, target.Length - offset));
                    stream.ReadExactly(chunk);
                    bad += CountNonFinite(chunk, parameter.dtype);
                }
            }
            catch (IOException ex)
            {
                throw new ModelFormatException(located.Path, entry.Name, $"the file could not be read completely (changed while loading?): {ex.Message}", ex);
            }

            if (parameter.dtype is ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16)
            {
                ThrowIfNonFinite(located.Path, entry.Name, parameter.dtype, bad);
            }
            else
            {
                RequireFinite(located.Path, entry.Name, parameter);
            }

            return;
        }

        using (var read = SafeTensorsFile.ReadTensor(stream, located.Path, located.DataStart, entry))
        using (var converted = read.to(parameter.dtype, parameter.device))
        {
            parameter.copy_(converted);
        }

        RequireFinite(located.Path, entry.Name, parameter);
    }

    /// <summary>The piece read and checked at a time: small enough to stay in the cache, a multiple of every element size.</summary>
    private const int ScanChunkBytes = 1 << 20;

    private static void RequireShape(string path, string key, long[] stored, long[] wanted, string wantedBy)
    {
        if (!stored.SequenceEqual(wanted))
        {
            throw new ModelFormatException(path, key, $"has shape [{string.Join(", ", stored)}] but {wantedBy} [{string.Join(", ", wanted)}].");
        }
    }

    /// <summary>
    /// NaN or infinite weights come from a corrupt file or from values too large for the dtype, never from a working
    /// model. Checked on the raw bits in managed code (an all-ones exponent), vectorised, one pass at memory speed:
    /// libtorch's <c>isfinite</c> on bfloat16 made a 0.5B model's load take over a minute on two loaded cores.
    /// </summary>
    private static void RequireFinite(string path, string key, Tensor values)
    {
        long bad;
        if (values.device.type == DeviceType.CPU && values.is_contiguous() && values.dtype is ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16)
        {
            bad = CountNonFinite(values.bytes, values.dtype);
        }
        else
        {
            using var scope = NewDisposeScope();
            bad = values.isfinite().logical_not().sum().item<long>();
        }

        ThrowIfNonFinite(path, key, values.dtype, bad);
    }

    private static void ThrowIfNonFinite(string path, string key, ScalarType dtype, long bad)
    {
        if (bad > 0)
        {
            throw new ModelFormatException(path, key,
                $"holds {bad} NaN or infinite values after conversion to {dtype} (a corrupt file, or weights too large for {dtype}).");
        }
    }

    /// <summary>The NaN and infinite values among raw <paramref name="bytes"/> of <paramref name="dtype"/> (float32, float16 or bfloat16; others count none).</summary>
    private static long CountNonFinite(ReadOnlySpan<byte> bytes, ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => CountNonFinite(MemoryMarshal.Cast<byte, uint>(bytes), 0x7F80_0000u),
        ScalarType.Float16 => CountNonFinite(MemoryMarshal.Cast<byte, ushort>(bytes), (ushort)0x7C00),
        ScalarType.BFloat16 => CountNonFinite(MemoryMarshal.Cast<byte, ushort>(bytes), (ushort)0x7F80),
        _ => 0,
    };

    /// <summary>How many values of <paramref name="bits"/> have every bit of <paramref name="exponent"/> set (<see cref="NonFiniteBits.Count{T}"/>).</summary>
    internal static long CountNonFinite<T>(ReadOnlySpan<T> bits, T exponent)
        where T : unmanaged, IBinaryInteger<T> => NonFiniteBits.Count(bits, exponent);

    /// <summary>A tied model accepts a stored <c>lm_head.weight</c> only when it holds <c>embed_tokens</c>' values.</summary>
    private static void RequireSameValues(Located head, Parameter embedding)
    {
        using var scope = NewDisposeScope();
        using var stream = ModelFile.OpenRead(head.Path);
        var stored = SafeTensorsFile.ReadTensor(stream, head.Path, head.DataStart, head.Entry).to(embedding.dtype, embedding.device);
        if (!stored.allclose(embedding, rtol: 0, atol: 0))
        {
            throw new ModelFormatException(head.Path, HeadKey,
                $"holds values other than {EmbeddingKey} but config.json sets tie_word_embeddings to true; set it to false to use this head, or remove the tensor.");
        }
    }

    [GeneratedRegex(@"^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$", RegexOptions.CultureInvariant)]
    private static partial Regex RotaryBuffer();
}
