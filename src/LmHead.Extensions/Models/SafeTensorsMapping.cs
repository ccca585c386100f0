using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace LmHead.Extensions.Models;

/// <summary>
/// Views of stored tensors in memory-mapped safetensors files, for a loader that gives the views to its parameters
/// instead of copying: on Linux each file is mapped once per dtype through libtorch's <c>from_file</c> (a private,
/// copy-on-write mapping: writing a parameter never writes the file). A mapped tensor costs no copy and no fresh page
/// (the page cache is the only copy of the weights); reading the file into new memory cost 2-2.5x the time of reading
/// it at all. The views keep their mapping alive; disposing this object releases only its own references.
/// </summary>
/// <remarks>
/// A file changed in place while mapped changes the weights, and reading past the end of one truncated ends the process
/// (SIGBUS), as with any memory-mapped file: so
/// <see cref="SafeTensorsFile.Write"/> replaces a file (a new one renamed over it) instead of rewriting it, and saving a
/// loaded model into its own folder is safe. Nothing is mapped on other systems, for other dtypes than the
/// floating-point ones, or for a tensor whose data is not aligned to its element size in the file: the caller reads those.
/// The environment variable <c>LMHEAD_MAP_WEIGHTS=0</c> turns mapping off (every tensor is read into memory of its own),
/// for file systems where mapping misbehaves or files that others may rewrite in place.
/// </remarks>
internal sealed class SafeTensorsMapping : IDisposable
{
    private readonly Dictionary<(string Path, ScalarType DType), Tensor?> _files = [];

    /// <summary>Whether loaders map weights: unless the environment variable <c>LMHEAD_MAP_WEIGHTS</c> is <c>0</c> (read at every load).</summary>
    internal static bool Enabled => Environment.GetEnvironmentVariable("LMHEAD_MAP_WEIGHTS") != "0";

    /// <summary>A CPU view of the stored tensor, or <see langword="null"/> when it cannot be mapped (the caller reads it).</summary>
    internal Tensor? TryView(string path, long dataStart, SafeTensorsFile.Entry entry)
    {
        long elementSize = ElementSize(entry.DType);
        long offset = dataStart + entry.Begin;
        long bytes = entry.End - entry.Begin;
        if (!OperatingSystem.IsLinux() || !Enabled || elementSize == 0 || bytes == 0 || offset % elementSize != 0)
        {
            return null;
        }

        if (!_files.TryGetValue((path, entry.DType), out var whole))
        {
            whole = Map(path, entry.DType, elementSize);
            _files.Add((path, entry.DType), whole);
        }

        if (whole is null)
        {
            return null;
        }

        using var part = whole.narrow(0, offset / elementSize, bytes / elementSize);
        return part.view(entry.Shape);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var whole in _files.Values)
        {
            whole?.Dispose();
        }

        _files.Clear();
    }

    private static Tensor? Map(string path, ScalarType dtype, long elementSize)
    {
        try
        {
            long length = new FileInfo(path).Length;
            return from_file(path, shared: false, size: length / elementSize, dtype: dtype);
        }
        catch (Exception ex) when (ex is ExternalException or IOException or UnauthorizedAccessException)
        {
            return null; // libtorch could not map it (a file system without mmap, a limit): read it instead
        }
    }

    private static long ElementSize(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 => 2,
        ScalarType.Float64 => 8,
        _ => 0,
    };
}
