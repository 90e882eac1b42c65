using IommuLab.Firmware;
using IommuLab.Firmware.Acpi;

namespace IommuLab.Cli.Commands;

/// <summary>Recognises an IORT or VIOT table file by its signature, so commands that take a device tree also take one.</summary>
public static class AcpiInput
{
    /// <summary>True when <paramref name="path"/> is a readable file starting with "IORT" or "VIOT".</summary>
    public static bool IsAcpiTable(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        try
        {
            if (!File.Exists(path))
            {
                return false;
            }

            using var stream = File.OpenRead(path);
            Span<byte> head = stackalloc byte[4];
            return stream.ReadAtLeast(head, 4, throwOnEndOfStream: false) == 4 && AcpiTable.LooksLikeAcpiTable(head);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Loads the table; a malformed one is the <see cref="FirmwareFormatException"/>'s message with its offset.</summary>
    public static (AcpiTable? Table, string? Error) Load(string path, AcpiTableOptions? options = null)
    {
        try
        {
            return (AcpiTable.LoadFile(path, options), null);
        }
        catch (FirmwareFormatException ex)
        {
            return (null, ex.Message);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return (null, $"{path}: file: cannot read the file: expected a readable file, found: {ex.Message}");
        }
    }
}
