using IommuLab.Firmware.DeviceTree;

namespace IommuLab.Firmware.Topology;

/// <summary>
/// A node with <c>iommu-map</c> (a PCI host bridge, or e.g. Tegra host1x): input IDs (PCI RIDs, stream IDs)
/// mapped to IOMMU specifiers, read in both kernel layouts.
/// </summary>
/// <remarks>
/// <para><c>Cells</c>: The property's whole cells.</para>
/// <para><c>ByteLength</c>: The property's length in bytes.</para>
/// <para><c>Mask</c>: The effective <c>iommu-map-mask</c>: 0xffffffff when absent or unreadable.</para>
/// <para><c>MaskDeclared</c>: True when <c>iommu-map-mask</c> exists and holds at least one cell.</para>
/// </remarks>
public sealed record IommuMapUser(
    string Path,
    IReadOnlyList<string> Labels,
    IReadOnlyList<string> Compatible,
    NodeStatus Status,
    IReadOnlyList<uint> Cells,
    int ByteLength,
    uint Mask,
    bool MaskDeclared,
    IommuMapReading FourCell,
    IommuMapReading TargetCells)
{
    /// <summary>True when both layouts frame the same entries with the same outputs and stop at the same place.</summary>
    public bool LayoutsAgree => SameReading(FourCell, TargetCells);

    public IommuMapReading Reading(IommuMapLayout layout) => layout == IommuMapLayout.FourCell ? FourCell : TargetCells;

    /// <summary>
    /// Models of_map_id(np, id, "iommu-map", "iommu-map-mask", ...) (drivers/of/base.c) for one input ID: entries
    /// are scanned in order and the first match wins; an id-base outside the mask met before a match returns
    /// -EFAULT, an unresolvable phandle -ENODEV (four-cell: only on the matching entry; target-cells: on every
    /// entry scanned, because its size depends on the target), and no match returns 0 with no target and the
    /// input ID unchanged. ID arithmetic is u32 and wraps as in C.
    /// </summary>
    public MapIdResult MapId(uint id, IommuMapLayout layout = IommuMapLayout.TargetCells)
    {
        var reading = Reading(layout);
        var masked = id & Mask;
        if (layout == IommuMapLayout.FourCell && reading.Stop is { } whole)
        {
            return Failed(whole.Errno, whole.EntryIndex, whole.KernelLog);
        }

        foreach (var e in reading.Entries)
        {
            if (e.IdBaseOutsideMask)
            {
                return Failed(Errno.EFAULT, e.Index, EfaultLog(e.IdBase));
            }

            bool inRange;
            uint offset = unchecked(masked - e.IdBase);
            if (layout == IommuMapLayout.FourCell)
            {
                // Before v7.2 the end is computed as id_base + length in u32, which can wrap.
                inRange = masked >= e.IdBase && masked < unchecked(e.IdBase + e.Length);
            }
            else
            {
                inRange = masked >= e.IdBase && offset < e.Length;
            }

            if (!inRange)
            {
                continue;
            }

            if (e.TargetPath is null)
            {
                return Failed(Errno.ENODEV, e.Index, null);
            }

            if (layout == IommuMapLayout.TargetCells && e.Length > 1 && e.OutBase.Count > 1)
            {
                return Failed(Errno.EINVAL, e.Index,
                    $"{Path}: Unsupported iommu-map - cannot handle {unchecked((int)e.Length)}-ID range with {e.OutBase.Count}-cell output specifier");
            }

            var args = e.OutBase.Select(b => unchecked(offset + b)).ToArray();
            return new MapIdResult(MapIdOutcome.Translated, null, e.Index, e.TargetPath, args, null);
        }

        if (reading.Stop is { } stop)
        {
            if (stop.IdBase is uint b && (b & ~Mask) != 0)
            {
                return Failed(Errno.EFAULT, stop.EntryIndex, EfaultLog(b));
            }

            return Failed(stop.Errno, stop.EntryIndex, stop.KernelLog == "" ? null : stop.KernelLog);
        }

        return new MapIdResult(MapIdOutcome.NoMatch, null, null, null, [id], $"{Path}: no iommu-map translation for id 0x{id:x} on (null)");
    }

    private string EfaultLog(uint idBase) =>
        $"{Path}: Invalid iommu-map translation - iommu-map-mask (0x{Mask:x}) ignores id-base (0x{idBase:x})";

    private static MapIdResult Failed(Errno errno, int? entry, string? log) => new(MapIdOutcome.Failed, errno, entry, null, [], log);

    private static bool SameReading(IommuMapReading a, IommuMapReading b)
    {
        if (a.Entries.Count != b.Entries.Count || (a.Stop is null) != (b.Stop is null))
        {
            return false;
        }

        if (a.Stop is { } sa && b.Stop is { } sb && (sa.Fault != sb.Fault || sa.CellOffset != sb.CellOffset))
        {
            return false;
        }

        for (var i = 0; i < a.Entries.Count; i++)
        {
            var x = a.Entries[i];
            var y = b.Entries[i];
            if (x.CellOffset != y.CellOffset || x.IdBase != y.IdBase || x.Length != y.Length || x.TargetPath != y.TargetPath
                || !x.OutBase.SequenceEqual(y.OutBase))
            {
                return false;
            }
        }

        return true;
    }
}
