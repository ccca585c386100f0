using System.Runtime.InteropServices;
using System.Text;
using TorchSharp;

namespace LmHead.Extensions;

/// <summary>
/// Makes sure TorchSharp's native libraries load, and replaces TorchSharp's misleading load error on
/// hosts whose libstdc++ is too old with one that says what is wrong and how to fix it.
/// </summary>
public static class TorchSharpRuntime
{
    private const string RequiredGlibcxx = "GLIBCXX_3.4.32";
    private static readonly Lazy<Exception?> LoadFailure = new(TryLoad, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Loads TorchSharp's native libraries once; later calls return at once.</summary>
    /// <exception cref="InvalidOperationException">The native libraries could not be loaded; the message says why and what to do.</exception>
    public static void EnsureAvailable()
    {
        if (LoadFailure.Value is { } failure)
        {
            throw failure;
        }
    }

    private static InvalidOperationException? TryLoad()
    {
        try
        {
            // Touching the torch class runs TorchSharp's native loader.
            _ = torch.get_default_dtype();
            return null;
        }
        catch (Exception ex) when (ex is TypeInitializationException or NotSupportedException or DllNotFoundException)
        {
            return new InvalidOperationException(Diagnose(ex), ex);
        }
    }

    internal static string Diagnose(Exception original)
    {
        var message = new StringBuilder("TorchSharp's native libraries could not be loaded. ");
        string? shim = FindShim();
        if (RuntimeInformation.IsOSPlatform(OSPlatform.Linux) && shim is not null
            && ShimNeedsMissingGlibcxx(shim))
        {
            message.Append('\'').Append(shim).Append("' requires ").Append(RequiredGlibcxx)
                .Append(" (GCC 13's libstdc++), which this system's libstdc++ does not provide (Debian 12 and Ubuntu 22.04 stop at GLIBCXX_3.4.30). ")
                .Append("LmHead.Extensions patches that copy after every build and publish; this copy was not patched. ")
                .Append("Rebuild the application with the LmHead.Extensions package referenced (and without LmHeadPatchLibTorchSharp=false), ")
                .Append("or install a libstdc++ from GCC 13 or later. See the README's troubleshooting section.");
        }
        else
        {
            message.Append("Reference a TorchSharp runtime package from the application (for example TorchSharp-cpu) and check that its native files are in the output folder. ")
                .Append("TorchSharp said: ").Append(original.GetBaseException().Message);
        }

        return message.ToString();
    }

    private static string? FindShim()
    {
        string[] candidates =
        [
            Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so"),
            Path.Combine(AppContext.BaseDirectory, "libLibTorchSharp.so"),
        ];
        return candidates.FirstOrDefault(File.Exists);
    }

    private static bool ShimNeedsMissingGlibcxx(string shim)
    {
        try
        {
            byte[] needle = Encoding.ASCII.GetBytes(RequiredGlibcxx + "\0");
            if (!File.ReadAllBytes(shim).AsSpan().Contains(needle))
            {
                return false;
            }

            string[] libstdcxx =
            [
                "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
                "/usr/lib/aarch64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/lib64/libstdc++.so.6",
            ];
            string? host = libstdcxx.FirstOrDefault(File.Exists);
            return host is not null && !File.ReadAllBytes(host).AsSpan().Contains(needle);
        }
        catch (IOException)
        {
            return false;
        }
    }
}

file static class SpanSearch
{
    public static bool Contains(this Span<byte> haystack, byte[] needle) => haystack.IndexOf(needle) >= 0;
}
