using System.Runtime.InteropServices;

namespace LmHead.Extensions.Models;

/// <summary>
/// The one way the loaders open a file of a model folder. Before anything is opened the path must resolve, through any
/// symbolic links, to a regular file: opening a FIFO blocks until a writer appears, a character device such as
/// <c>/dev/zero</c> reads forever, and a directory, a dangling link or a link loop cannot be read at all. Reads are
/// capped, and every I/O failure (permission denied, a file that vanishes, a read error) becomes a
/// <see cref="ModelFormatException"/> naming the file and saying what is wrong.
/// </summary>
internal static partial class ModelFile
{
    /// <summary>The largest <c>config.json</c> read: 16 MiB (GPT-2's is under 1 KiB).</summary>
    internal const long MaxConfigBytes = 16L << 20;

    /// <summary>The largest <c>vocab.json</c> or <c>merges.txt</c> read: 256 MiB (GPT-2's are 1 MiB and 0.5 MiB).</summary>
    internal const long MaxTokenizerBytes = 256L << 20;

    // File-type bits of st_mode; System.Native reports the platform's st_mode unchanged and asserts these values.
    private const int TypeMask = 0xF000;
    private const int RegularFile = 0x8000;
    private const int DirectoryType = 0x4000;
    private const int Fifo = 0x1000;
    private const int CharacterDevice = 0x2000;
    private const int BlockDevice = 0x6000;
    private const int Socket = 0xC000;

    /// <summary>
    /// Whether anything at all is at <paramref name="path"/>: a file, a directory, a device, or a symbolic link, even a
    /// dangling one. Loaders use it to tell "absent" (use a default) from "present but unreadable" (an error).
    /// </summary>
    internal static bool IsPresent(string path)
    {
        try
        {
            // Does not open the file; on Unix it falls back to lstat, so a dangling link or a loop counts as present.
            _ = File.GetAttributes(path);
            return true;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return true;
        }
    }

    /// <summary>Checks that <paramref name="path"/> is a regular file (after links), then opens it for reading.</summary>
    /// <exception cref="ModelFormatException">It is not a regular file, or it cannot be opened.</exception>
    internal static FileStream OpenRead(string path)
    {
        RequireRegularFile(path);
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw CannotRead(path, ex);
        }
    }

    /// <summary>Reads a whole regular file of 1 to <paramref name="maxBytes"/> bytes.</summary>
    /// <exception cref="ModelFormatException">It is not a regular file, is empty or larger than the cap, or cannot be read.</exception>
    internal static byte[] ReadAllBytes(string path, long maxBytes)
    {
        using var stream = OpenRead(path);
        try
        {
            long length = stream.Length;
            if (length == 0)
            {
                // Also what pseudo-files (under /proc or /sys) report; reading those could block or never end.
                throw new ModelFormatException(path, null, "the file is empty.");
            }

            if (length > maxBytes)
            {
                throw new ModelFormatException(path, null,
                    $"the file is {length} bytes long; files of this kind may hold at most {maxBytes} bytes ({maxBytes >> 20} MiB).");
            }

            // Exactly the length the file reported when opened: a file that grows while it is read cannot make this
            // read more, and one that shrinks is an error.
            byte[] content = new byte[length];
            stream.ReadExactly(content);
            return content;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw CannotRead(path, ex);
        }
    }

    /// <summary>The exception for an I/O error while reading an opened model file.</summary>
    internal static ModelFormatException CannotRead(string path, Exception ex) =>
        new(path, null, $"the file cannot be read: {ex.Message}", ex);

    /// <summary>Throws unless <paramref name="path"/> resolves, through any symbolic links, to a regular file. Opens nothing.</summary>
    /// <exception cref="ModelFormatException">The path is missing, a dangling link, a link loop, a directory, a FIFO, a device or a socket.</exception>
    internal static void RequireRegularFile(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            RequireRegularFileManaged(path);
            return;
        }

        int mode;
        try
        {
            mode = StatMode(path, out int error);
            if (mode < 0)
            {
                throw NotReachable(path, Marshal.GetPInvokeErrorMessage(error));
            }
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            // A host without System.Native (NativeAOT links it statically): the managed check cannot see FIFOs, but it
            // rejects every empty or special file by its size, which is what a FIFO or a device reports.
            RequireRegularFileManaged(path);
            return;
        }

        string? what = (mode & TypeMask) switch
        {
            RegularFile => null,
            DirectoryType => "is a directory, not a file",
            Fifo => "is a named pipe (FIFO), not a regular file; reading it would block",
            CharacterDevice => "is a character device (like /dev/zero), not a regular file; reading it could never end",
            BlockDevice => "is a block device, not a regular file",
            Socket => "is a socket, not a regular file",
            var other => $"is not a regular file (file type 0x{other:X})",
        };
        if (what is not null)
        {
            throw new ModelFormatException(path, null, what + LinkNote(path) + ".");
        }
    }

    private static void RequireRegularFileManaged(string path)
    {
        try
        {
            FileSystemInfo target = new FileInfo(path);
            if (target.LinkTarget is not null)
            {
                target = target.ResolveLinkTarget(returnFinalTarget: true) ?? target;
            }

            var attributes = File.GetAttributes(target.FullName);
            if ((attributes & FileAttributes.Directory) != 0)
            {
                throw new ModelFormatException(path, null, "is a directory, not a file" + LinkNote(path) + ".");
            }

            if ((attributes & FileAttributes.Device) != 0 || new FileInfo(target.FullName).Length == 0)
            {
                throw new ModelFormatException(path, null, "is empty or not a regular file" + LinkNote(path) + ".");
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw NotReachable(path, ex.Message, ex);
        }
    }

    private static ModelFormatException NotReachable(string path, string reason, Exception? inner = null)
    {
        if (!IsPresent(path))
        {
            return new ModelFormatException(path, null, "the file does not exist.", inner);
        }

        string? target = LinkTargetOf(path);
        return target is null
            ? new ModelFormatException(path, null, $"the file cannot be read: {reason}.", inner)
            : new ModelFormatException(path, null,
                $"is a symbolic link to '{target}' that cannot be followed: {reason} (a dangling link, a link loop, or a target that is not accessible).", inner);
    }

    private static string LinkNote(string path) => LinkTargetOf(path) is { } target ? $" (it is a symbolic link to '{target}')" : "";

    private static string? LinkTargetOf(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>stat(2) through the runtime's own System.Native shim: the st_mode of the final target, or -1 and errno.</summary>
    private static unsafe int StatMode(string path, out int error)
    {
        // System.Native's FileStatus starts with int32 Flags and int32 Mode and is about 120 bytes; 512 leaves room.
        byte* status = stackalloc byte[512];
        if (SystemNativeStat(path, status) != 0)
        {
            error = Marshal.GetLastPInvokeError();
            return -1;
        }

        error = 0;
        return *(int*)(status + 4);
    }

    [LibraryImport("libSystem.Native", EntryPoint = "SystemNative_Stat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int SystemNativeStat(string path, byte* status);
}
