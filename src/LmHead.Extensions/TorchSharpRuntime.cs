using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using TorchSharp;

namespace LmHead.Extensions;

/// <summary>
/// Makes sure TorchSharp's native libraries load, and replaces TorchSharp's misleading load error on
/// hosts whose libstdc++ is too old with one that says what is wrong and how to fix it.
/// </summary>
/// <remarks>
/// TorchSharp 0.107.0's shim <c>libLibTorchSharp.so</c> asks for <c>GLIBCXX_3.4.32</c>, which Debian 12 and Ubuntu 22.04
/// lack. The build fixes the copy in the output folder (<c>buildTransitive/LmHead.Extensions.targets</c>); when that copy
/// was not fixed (an application that references this library by <c>ProjectReference</c> from outside this repository
/// does not import the targets), the first use of any type of this library fixes it the same way, in place, before
/// TorchSharp loads it. Building with <c>-p:LmHeadPatchLibTorchSharp=false</c> turns both off; the first call into the
/// library then throws the <see cref="InvalidOperationException"/> of <see cref="EnsureAvailable"/>. Code that calls
/// TorchSharp before any type of this library can call <see cref="EnsureAvailable"/> first to get the same.
/// </remarks>
public static class TorchSharpRuntime
{
    private const string RequiredGlibcxx = GlibcxxWeakVersion.MissingVersion;

    /// <summary>The runtime switch the targets set to <see langword="false"/> when the build was told not to patch.</summary>
    internal const string PatchSwitch = "LmHead.Extensions.PatchLibTorchSharp";

    private static readonly Lazy<string?> ShimRepair = new(RepairShim, LazyThreadSafetyMode.ExecutionAndPublication);
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

    /// <summary>Returns <paramref name="value"/> after <see cref="EnsureAvailable"/>: for constructor initialisers that run before a body could check.</summary>
    internal static T Checked<T>(T value)
    {
        EnsureAvailable();
        return value;
    }

    // Runs before any code of this assembly (the first use of any of its types): an unpatched shim in the output folder
    // is patched before anything here, or the caller through a type of ours, can make TorchSharp load it. Never throws.
    [ModuleInitializer]
    [System.Diagnostics.CodeAnalysis.SuppressMessage(
        "Usage", "CA2255:The 'ModuleInitializer' attribute should not be used in libraries",
        Justification = "It must run before TorchSharp loads its native shim, which any type of this library may trigger; it only reads two files and, when the shim cannot load on this host, patches the output copy.")]
    internal static void RepairShimBeforeFirstUse() => _ = ShimRepair.Value;

    // Returns why the shim could not be repaired (null when it needed no repair or was repaired).
    private static string? RepairShim()
    {
        try
        {
            if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux)
                || (AppContext.TryGetSwitch(PatchSwitch, out bool enabled) && !enabled)
                || FindShim() is not { } shim
                || GlibcxxWeakVersion.HostHasVersion())
            {
                return null;
            }

            GlibcxxWeakVersion.PatchFile(shim);
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            return ex.Message;
        }
    }

    private static InvalidOperationException? TryLoad()
    {
        _ = ShimRepair.Value;
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
                .Append("LmHead.Extensions patches that copy after every build and publish, and at run time before TorchSharp loads it; this copy was not patched");
            if (AppContext.TryGetSwitch(PatchSwitch, out bool enabled) && !enabled)
            {
                message.Append(" because the application was built with LmHeadPatchLibTorchSharp=false");
            }
            else if (ShimRepair.Value is { } reason)
            {
                message.Append(" because it could not be written (").Append(reason).Append(')');
            }

            message.Append(". Rebuild the application with the LmHead.Extensions package referenced (and without LmHeadPatchLibTorchSharp=false), ")
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

    // True only when the shim still holds a strong (not yet weak) requirement for the version and the host lacks it: a
    // patched shim that fails to load fails for another reason (most often no libtorch runtime package in the app).
    internal static bool ShimNeedsMissingGlibcxx(string shim)
    {
        try
        {
            return GlibcxxWeakVersion.Patch(File.ReadAllBytes(shim)) > 0 && !GlibcxxWeakVersion.HostHasVersion();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            return false;
        }
    }
}
