using IommuLab.Firmware.DeviceTree;

namespace IommuLab.Firmware.Topology;

/// <summary>A node with <c>#iommu-cells</c>: an IOMMU instance as firmware describes it.</summary>
/// <remarks>
/// <para><c>IommuCells</c>: The <c>#iommu-cells</c> value, or null when the property is shorter than one cell
/// (of_property_read_u32() fails, so every <c>iommus</c> reference to it fails too).</para>
/// <para><c>Reg</c>: The decoded <c>reg</c>, or null when the node has none (e.g. a PCI-function IOMMU).</para>
/// </remarks>
public sealed record IommuProvider(
    string Path,
    IReadOnlyList<string> Labels,
    uint? Phandle,
    IReadOnlyList<string> Compatible,
    NodeStatus Status,
    uint? IommuCells,
    RegProperty? Reg)
{
    internal static IommuProvider From(DtNode node)
    {
        uint? cells = node.FindProperty("#iommu-cells") is { } p && p.TryGetU32(out var v) ? v : null;
        return new IommuProvider(
            node.Path, [.. node.Labels], node.Phandle, Strings.Compatible(node), NodeStatus.Of(node), cells, RegProperty.Of(node));
    }
}

/// <summary>Formatting shared by the decoders and the renderers.</summary>
public static class Strings
{
    /// <summary>The <c>compatible</c> list; a value that is not a NUL-terminated list reads as its first string.</summary>
    public static IReadOnlyList<string> Compatible(DtNode node)
    {
        var p = node.FindProperty("compatible");
        if (p is null)
        {
            return [];
        }

        if (p.GetStringList() is { } list)
        {
            return list;
        }

        return [System.Text.Encoding.UTF8.GetString(p.Value.Span)];
    }

    public static string Hex(uint v) => $"0x{v:x}";

    /// <summary>A cell as DTS shows it: 0-9 plain, larger values in hex.</summary>
    public static string Cell(uint v) => v <= 9 ? v.ToString(System.Globalization.CultureInfo.InvariantCulture) : Hex(v);

    public static string Args(IReadOnlyList<uint> args) => "<" + string.Join(' ', args.Select(Cell)) + ">";
}
