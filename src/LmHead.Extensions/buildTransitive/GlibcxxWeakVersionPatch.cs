// Compiled twice: by MSBuild's RoslynCodeTaskFactory as the build task (see LmHead.Extensions.targets), and into the
// library itself with LMHEAD_RUNTIME defined (TorchSharpRuntime patches an unpatched output copy before the first load).
// Kept dependency-free on purpose.
#pragma warning disable
using System;
using System.IO;
using System.Text;
#if !LMHEAD_RUNTIME
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

/// <summary>
/// Marks the <c>GLIBCXX_3.4.32</c> version requirement of TorchSharp's native shim as weak
/// (<c>VER_FLG_WEAK</c>) in the build output, so glibc accepts the library on hosts whose libstdc++
/// stops at GLIBCXX_3.4.30 (Debian 12, Ubuntu 22.04). The only symbol bound to that version is
/// <c>_ZSt21ios_base_library_initv</c>, which is never called through a relocation.
/// </summary>
public class PatchGlibcxxRequirement : Task
{
    [Required]
    public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();

    public override bool Execute()
    {
        if (GlibcxxWeakVersion.HostHasVersion())
        {
            Log.LogMessage(MessageImportance.Low, "LmHead.Extensions: host libstdc++ provides " + GlibcxxWeakVersion.MissingVersion + "; nothing to patch.");
            return true;
        }

        foreach (var item in Files)
        {
            var path = item.ItemSpec;
            try
            {
                if (GlibcxxWeakVersion.PatchFile(path))
                {
                    Log.LogMessage(MessageImportance.Normal, "LmHead.Extensions: marked " + GlibcxxWeakVersion.MissingVersion + " weak in " + path);
                }
            }
            catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException || ex is InvalidDataException)
            {
                Log.LogWarning("LmHead.Extensions: could not patch '" + path + "' for " + GlibcxxWeakVersion.MissingVersion + ": " + ex.Message +
                    ". TorchSharp may fail to load on this host; see the README's troubleshooting section.");
            }
        }

        return true;
    }
}
#endif

/// <summary>The ELF edit itself: finds the GLIBCXX_3.4.32 requirement of a shared library and marks it weak.</summary>
internal static class GlibcxxWeakVersion
{
    internal const string MissingVersion = "GLIBCXX_3.4.32";
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlgWeak = 0x2;

    /// <summary>
    /// Marks the requirement weak in the file at <paramref name="path"/> if it is not yet; the new bytes are written to a
    /// temporary file next to it and renamed over it, so a reader never sees half a file. Returns whether it changed.
    /// </summary>
    internal static bool PatchFile(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (Patch(bytes) == 0)
        {
            return false;
        }

        // netstandard2.0 API only: the build task is compiled against it.
        var temp = path + "." + Guid.NewGuid().ToString("N") + ".lmhead-tmp";
        try
        {
            File.WriteAllBytes(temp, bytes);
            File.Replace(temp, path, null);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }

        return true;
    }

    internal static bool HostHasVersion()
    {
        string[] candidates =
        {
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/usr/lib/aarch64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/lib64/libstdc++.so.6",
            "/usr/lib/libstdc++.so.6",
        };
        var needle = Encoding.ASCII.GetBytes(MissingVersion + "\0");
        foreach (var candidate in candidates)
        {
            if (!File.Exists(candidate))
            {
                continue;
            }

            var data = File.ReadAllBytes(candidate);
            return Contains(data, needle);
        }

        // No libstdc++ where we look: leave the file alone rather than guess.
        return true;
    }

    /// <summary>Sets VER_FLG_WEAK on every vernaux entry naming the missing version; returns how many changed.</summary>
    internal static int Patch(byte[] elf)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
        {
            throw new InvalidDataException("not an ELF file");
        }

        if (elf[4] != 2 || elf[5] != 1)
        {
            throw new InvalidDataException("not a little-endian 64-bit ELF file");
        }

        long shoff = (long)BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        int changed = 0;
        for (int i = 0; i < shnum; i++)
        {
            long sh = shoff + (long)i * shentsize;
            Check(elf, sh, 64);
            uint type = BitConverter.ToUInt32(elf, (int)sh + 4);
            if (type != ShtGnuVerneed)
            {
                continue;
            }

            long offset = (long)BitConverter.ToUInt64(elf, (int)sh + 0x18);
            uint link = BitConverter.ToUInt32(elf, (int)sh + 0x28);
            uint count = BitConverter.ToUInt32(elf, (int)sh + 0x2C);
            long strSh = shoff + (long)link * shentsize;
            Check(elf, strSh, 64);
            long strOffset = (long)BitConverter.ToUInt64(elf, (int)strSh + 0x18);

            long need = offset;
            for (uint n = 0; n < count; n++)
            {
                Check(elf, need, 16);
                ushort auxCount = BitConverter.ToUInt16(elf, (int)need + 2);
                long aux = need + BitConverter.ToUInt32(elf, (int)need + 8);
                for (int a = 0; a < auxCount; a++)
                {
                    Check(elf, aux, 16);
                    uint name = BitConverter.ToUInt32(elf, (int)aux + 8);
                    if (ReadString(elf, strOffset + name) == MissingVersion)
                    {
                        ushort flags = BitConverter.ToUInt16(elf, (int)aux + 4);
                        if ((flags & VerFlgWeak) == 0)
                        {
                            flags |= VerFlgWeak;
                            elf[aux + 4] = (byte)(flags & 0xff);
                            elf[aux + 5] = (byte)(flags >> 8);
                            changed++;
                        }
                    }

                    aux += BitConverter.ToUInt32(elf, (int)aux + 12);
                }

                uint next = BitConverter.ToUInt32(elf, (int)need + 12);
                if (next == 0)
                {
                    break;
                }

                need += next;
            }
        }

        return changed;
    }

    private static bool Contains(byte[] data, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= data.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && data[i + j] == needle[j])
            {
                j++;
            }

            if (j == needle.Length)
            {
                return true;
            }
        }

        return false;
    }

    private static void Check(byte[] elf, long offset, int length)
    {
        if (offset < 0 || offset + length > elf.Length)
        {
            throw new InvalidDataException("ELF structure points past the end of the file");
        }
    }

    private static string ReadString(byte[] elf, long offset)
    {
        Check(elf, offset, 1);
        int end = Array.IndexOf(elf, (byte)0, (int)offset);
        return Encoding.ASCII.GetString(elf, (int)offset, (end < 0 ? elf.Length : end) - (int)offset);
    }
}
