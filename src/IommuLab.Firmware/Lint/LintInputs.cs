using IommuLab.Firmware.Acpi;
using IommuLab.Firmware.DeviceTree;

namespace IommuLab.Firmware.Lint;

/// <summary>Finds the firmware files under the paths a user gives (lint, scan).</summary>
public static class LintInputs
{
    private static readonly string[] DeviceTreeExtensions = [".dtb", ".dtbo", ".dts"];

    /// <summary>
    /// Expands directories recursively into the firmware files they hold, in ordinal path order per directory
    /// given: <c>.dtb</c>, <c>.dtbo</c> and <c>.dts</c> by name, any other file by its first bytes (the DTB magic,
    /// or an IORT/VIOT signature). A file given by name is kept whatever it holds. A directory or file that
    /// cannot be read is kept too, so that linting it reports why. Directory symlinks are not followed.
    /// </summary>
    public static IReadOnlyList<string> Expand(IEnumerable<string> paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var result = new List<string>();
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
            {
                var found = new List<string>();
                Walk(path, found);
                found.Sort(StringComparer.Ordinal);
                result.AddRange(found);
            }
            else
            {
                result.Add(path);
            }
        }

        return result;
    }

    private static void Walk(string dir, List<string> found)
    {
        string[] files, dirs;
        try
        {
            files = Directory.GetFiles(dir);
            dirs = Directory.GetDirectories(dir);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            found.Add(dir);
            return;
        }

        foreach (var f in files)
        {
            if (IsFirmware(f))
            {
                found.Add(f);
            }
        }

        foreach (var d in dirs)
        {
            if (new DirectoryInfo(d).LinkTarget is null)
            {
                Walk(d, found);
            }
        }
    }

    private static bool IsFirmware(string file)
    {
        if (DeviceTreeExtensions.Contains(Path.GetExtension(file), StringComparer.OrdinalIgnoreCase))
        {
            return true;
        }

        Span<byte> head = stackalloc byte[4];
        try
        {
            using var s = File.OpenRead(file);
            var n = s.ReadAtLeast(head, 4, throwOnEndOfStream: false);
            return n == 4 && (DtbReader.LooksLikeDtb(head) || AcpiTable.LooksLikeAcpiTable(head));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Unreadable: keep it, so the lint reports it rather than silently skipping it.
            return true;
        }
    }
}
