using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// libtorch's version counter of a tensor (<c>tensor._version</c> in PyTorch), which TorchSharp 0.107 does not expose:
/// every in-place operation on a tensor or on any view of its storage (<c>copy_</c>, <c>add_</c>, an optimizer step,
/// loading a state dict) increments it. Read through two functions libtorch exports, called with TorchSharp's handle
/// (a pointer to an <c>at::Tensor</c>).
/// </summary>
/// <remarks>
/// Inference tensors (made under <c>torch.inference_mode()</c>) have no counter; for them, and where the functions are
/// not found (Windows, whose C++ names differ) or fail the check made before first use, <see cref="TryRead"/> says no.
/// Writes through raw memory (<see cref="Tensor.bytes"/>, <c>data&lt;T&gt;()</c>, pointers) do not count.
/// </remarks>
internal static unsafe class TensorVersion
{
    /// <summary><c>at::TensorBase::_version() const</c>.</summary>
    private const string VersionExport = "_ZNK2at10TensorBase8_versionEv";

    /// <summary><c>at::native::is_inference(const at::Tensor&amp;)</c>.</summary>
    private const string IsInferenceExport = "_ZN2at6native12is_inferenceERKNS_6TensorE";

    private static readonly Functions? Resolved = Resolve();

    /// <summary>Whether versions can be read at all in this process.</summary>
    public static bool IsAvailable => Resolved is not null;

    /// <summary>Reads <paramref name="tensor"/>'s version; false for an inference tensor or where versions cannot be read.</summary>
    public static bool TryRead(Tensor tensor, out long version)
    {
        version = 0;
        if (Resolved is not { } functions || tensor.IsInvalid)
        {
            return false;
        }

        nint handle = tensor.Handle;
        if (functions.IsInference(handle) != 0)
        {
            return false;
        }

        version = functions.Version(handle);
        return true;
    }

    private static Functions? Resolve()
    {
        string library = RuntimeInformation.IsOSPlatform(OSPlatform.Linux) ? "libtorch_cpu.so"
            : RuntimeInformation.IsOSPlatform(OSPlatform.OSX) ? "libtorch_cpu.dylib"
            : string.Empty;
        if (library.Length == 0)
        {
            return null;
        }

        try
        {
            // TorchSharp loads libtorch; a name without a directory then resolves to that already loaded copy (by its soname).
            TorchSharpRuntime.EnsureAvailable();
        }
        catch (InvalidOperationException)
        {
            return null;
        }

        if (!NativeLibrary.TryLoad(library, out nint handle)
            || !NativeLibrary.TryGetExport(handle, VersionExport, out nint version)
            || !NativeLibrary.TryGetExport(handle, IsInferenceExport, out nint isInference))
        {
            return null;
        }

        var functions = new Functions(
            (delegate* unmanaged[Cdecl, SuppressGCTransition]<nint, long>)version,
            (delegate* unmanaged[Cdecl, SuppressGCTransition]<nint, byte>)isInference);
        return BehavesAsDocumented(functions) ? functions : null;
    }

    /// <summary>An in-place add through a view must count once on the base, and an inference tensor must say so.</summary>
    private static bool BehavesAsDocumented(Functions functions)
    {
        using var scope = NewDisposeScope();

        // The first use may come inside a caller's inference mode: the probe tensor must not be an inference tensor.
        using var normalMode = inference_mode(false);
        var tensor = zeros(4, 4);
        if (functions.IsInference(tensor.Handle) != 0)
        {
            return false;
        }

        long before = functions.Version(tensor.Handle);
        using (no_grad())
        {
            tensor.t().add_(1);
        }

        if (functions.Version(tensor.Handle) != before + 1)
        {
            return false;
        }

        using (inference_mode())
        {
            var inference = zeros(2);
            return functions.IsInference(inference.Handle) != 0;
        }
    }

    private sealed class Functions(
        delegate* unmanaged[Cdecl, SuppressGCTransition]<nint, long> version,
        delegate* unmanaged[Cdecl, SuppressGCTransition]<nint, byte> isInference)
    {
        public long Version(nint tensor) => version(tensor);

        public byte IsInference(nint tensor) => isInference(tensor);
    }
}
