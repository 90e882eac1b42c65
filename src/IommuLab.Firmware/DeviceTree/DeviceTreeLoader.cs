using System.Text;
using IommuLab.Firmware.DeviceTree.Dts;

namespace IommuLab.Firmware.DeviceTree;

/// <summary>Reads a device tree from a file of either kind: a DTB (by its magic) or DTS source text.</summary>
public static class DeviceTreeLoader
{
    /// <summary>Loads <paramref name="path"/>; every failure, including a missing file, is a <see cref="FirmwareFormatException"/>.</summary>
    public static DeviceTree LoadFile(string path, DtsParserOptions? dtsOptions = null, DtbReaderOptions? dtbOptions = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new FirmwareFormatException(path, "file", $"cannot read the file: {ex.Message}");
        }

        return Load(bytes, path, dtsOptions, dtbOptions);
    }

    /// <summary>Loads from bytes already in memory; <paramref name="sourceName"/> names the input in messages and resolves /include/.</summary>
    public static DeviceTree Load(byte[] bytes, string sourceName, DtsParserOptions? dtsOptions = null, DtbReaderOptions? dtbOptions = null)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        ArgumentNullException.ThrowIfNull(sourceName);
        if (DtbReader.LooksLikeDtb(bytes))
        {
            return DtbReader.Read(bytes, sourceName, dtbOptions);
        }

        var nul = Array.IndexOf(bytes, (byte)0);
        if (nul >= 0)
        {
            throw new FirmwareFormatException(sourceName, $"offset 0x{nul:x}",
                "expected a DTB (magic 0xd00dfeed) or DTS source text, found binary data");
        }

        return DtsParser.Parse(Encoding.UTF8.GetString(bytes), sourceName, dtsOptions);
    }
}
