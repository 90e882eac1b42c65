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
            throw new FirmwareFormatException(path, "file", ex is FileNotFoundException or DirectoryNotFoundException
                ? "cannot read the file: expected a file at this path, found none"
                : $"cannot read the file: expected a readable file, found: {ex.Message}");
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
        if (nul >= 0 && OtherAcpiTable(bytes) is { } signature)
        {
            throw new FirmwareFormatException(sourceName, "offset 0x0", signature is "IORT" or "VIOT"
                ? $"expected a device tree (a DTB or DTS source text), found an ACPI {signature} table: this command reads device trees only"
                : $"expected a device tree (a DTB or DTS source text) or an IORT or VIOT table, found an ACPI {signature} table");
        }

        if (nul >= 0)
        {
            throw new FirmwareFormatException(sourceName, $"offset 0x{nul:x}",
                "expected a DTB (magic 0xd00dfeed) or DTS source text, found binary data");
        }

        return DtsParser.Parse(Encoding.UTF8.GetString(bytes), sourceName, dtsOptions);
    }

    /// <summary>Loads <paramref name="path"/> under every limit of <paramref name="limits"/>, <c>iommu-map</c> entries included.</summary>
    public static DeviceTree LoadFile(string path, FirmwareLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var tree = LoadFile(path, limits.Dts, limits.Dtb);
        CheckMappings(tree, path, limits.IommuMapEntries);
        return tree;
    }

    /// <summary>Loads bytes under every limit of <paramref name="limits"/>, <c>iommu-map</c> entries included.</summary>
    public static DeviceTree Load(byte[] bytes, string sourceName, FirmwareLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var tree = Load(bytes, sourceName, limits.Dts, limits.Dtb);
        CheckMappings(tree, sourceName, limits.IommuMapEntries);
        return tree;
    }

    /// <summary>Bytes in the shortest <c>iommu-map</c> entry the limit counts: id-base, phandle, one output cell, length.</summary>
    public const int IommuMapEntryBytes = 16;

    /// <summary>
    /// Refuses a tree whose <c>iommu-map</c> properties hold more than <paramref name="max"/> entries in all, counting
    /// each started 16 bytes as one entry (the layout every kernel before v7.2 reads), so the decoder's work stays bounded.
    /// </summary>
    public static void CheckMappings(DeviceTree tree, string sourceName, int max)
    {
        ArgumentNullException.ThrowIfNull(tree);
        ArgumentNullException.ThrowIfNull(sourceName);
        var total = 0L;
        foreach (var node in tree.AllNodes())
        {
            var map = node.FindProperty("iommu-map");
            if (map is null)
            {
                continue;
            }

            total += (map.Length + IommuMapEntryBytes - 1) / IommuMapEntryBytes;
            if (total > max)
            {
                throw FirmwareFormatException.Exceeds(new FirmwareFormatException(sourceName, node.Path,
                    $"expected at most {max} iommu-map entries in the tree, found this node's {map.Length}-byte iommu-map bringing the total to {total}{FirmwareLimits.Hint(FirmwareLimit.Mappings, "FirmwareLimits.MaxMappings")}"), FirmwareLimit.Mappings);
            }
        }
    }

    /// <summary>The signature of an ACPI table other than IORT/VIOT (DMAR, IVRS, DSDT...): four capitals or digits and a Length that fits.</summary>
    private static string? OtherAcpiTable(byte[] bytes)
    {
        if (bytes.Length < 36 || !bytes.AsSpan(0, 4).ToArray().All(b => b is (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'0' and <= (byte)'9')))
        {
            return null;
        }

        var length = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4));
        return length >= 36 && length <= bytes.Length ? Encoding.ASCII.GetString(bytes, 0, 4) : null;
    }
}
