namespace IommuLab.Firmware.Acpi;

/// <summary>
/// Limits that keep a hostile IORT or VIOT cheap to reject. A table's Length field is 32 bits, so without them a
/// 4 GiB table of minimal nodes would become hundreds of millions of objects. Real tables have 18-30 nodes and a
/// few dozen ID mappings; the defaults leave ample room and a user can raise them.
/// </summary>
public sealed class AcpiTableOptions
{
    internal static readonly AcpiTableOptions Default = new();

    /// <summary>Most nodes in one table (the IORT node count; a VIOT's 16-bit count is capped too).</summary>
    public int MaxNodes { get; init; } = 1 << 16;

    /// <summary>Most IORT ID mappings over all nodes of one table; in a VIOT, most PCI range and MMIO endpoint nodes.</summary>
    public int MaxIdMappings { get; init; } = 1 << 20;
}
