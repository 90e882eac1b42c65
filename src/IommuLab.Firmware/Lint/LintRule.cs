using System.Collections.Frozen;
using IommuLab.Firmware.Acpi;
using IommuLab.Firmware.Topology;

namespace IommuLab.Firmware.Lint;

/// <summary>A lint rule: stable id, default severity, a title (what it checks) and the default one-line fix hint.</summary>
public sealed record LintRule(string Id, ProblemSeverity DefaultSeverity, string Title, string FixHint);

/// <summary>
/// The firmware-only lint rules: every <see cref="TopologyProblem"/> and <see cref="AcpiProblem"/> rule (same ids,
/// same severities, with fix hints) plus the rules only lint checks. Documented in docs/lint.md.
/// </summary>
public static class FirmwareLintRules
{
    public const string FileUnreadable = "file-unreadable";
    public const string FirmwareMalformed = "firmware-malformed";
    public const string MultiInstance = "iommus-multi-instance";
    public const string MapGap = "iommu-map-gap";

    private static readonly ProblemSeverity E = ProblemSeverity.Error;
    private static readonly ProblemSeverity W = ProblemSeverity.Warning;
    private static readonly ProblemSeverity I = ProblemSeverity.Info;

    public static IReadOnlyList<LintRule> All { get; } =
    [
        new(FileUnreadable, E, "The file cannot be read", "check the path and its permissions"),
        new(FirmwareMalformed, E, "The file is not a well-formed DTB, DTS, IORT or VIOT",
            "fix the file at the location given (or regenerate it with dtc or iasl)"),

        new(TopologyRules.ProviderCellsUnreadable, E, "#iommu-cells shorter than one cell", "write #iommu-cells as one 32-bit cell, e.g. #iommu-cells = <1>;"),
        new(TopologyRules.ProviderRegMalformed, W, "reg is not whole (address, size) pairs",
            "make reg whole (address, size) pairs for the parent's #address-cells and #size-cells"),
        new(TopologyRules.IommusEmpty, I, "iommus with no cells", "delete the empty iommus property, or list the IOMMU references"),
        new(TopologyRules.IommusLengthNotCells, W, "iommus length not a multiple of 4", "write iommus as whole 32-bit cells, e.g. <&iommu 0>"),
        new(TopologyRules.IommusEmptyEntry, W, "phandle 0 in iommus ends the list", "remove the 0 phandle: the kernel ignores every entry after it"),
        new(TopologyRules.IommusPhandleUnresolved, E, "iommus phandle names no node", "point the entry at an existing IOMMU node (&label), or delete it"),
        new(TopologyRules.IommusTargetNotProvider, E, "iommus references a node without #iommu-cells",
            "reference the IOMMU node itself (the one with #iommu-cells), or add #iommu-cells to the target"),
        new(TopologyRules.IommusArgsOverrun, E, "iommus args run past the property", "write exactly #iommu-cells arg cells after each phandle"),
        new(TopologyRules.IommusArgsTruncated, W, "more than 16 args (MAX_PHANDLE_ARGS)", "keep #iommu-cells at 16 or fewer"),
        new(TopologyRules.IommusEntriesIgnored, W, "iommus entries ignored after a parse error",
            "fix the entry where parsing stops: the kernel silently drops everything after it"),
        new(TopologyRules.IommusCellsMismatch, E, "iommus cells per entry differ from the target's #iommu-cells (re-framed)",
            "write as many arg cells per entry as the target's #iommu-cells declares"),
        new(TopologyRules.IommusDisabledProvider, W, "enabled consumer references a disabled IOMMU",
            "enable the IOMMU (status = \"okay\"), drop it from iommus, or disable the consumer"),
        new(TopologyRules.MapBadLength, E, "iommu-map is not whole entries (\"Bad iommu-map length\")",
            "write iommu-map as whole (id-base, &iommu, out-base, length) entries"),
        new(TopologyRules.MapMaskUnreadable, W, "iommu-map-mask shorter than one cell", "write iommu-map-mask as one 32-bit cell"),
        new(TopologyRules.MapIdBaseOutsideMask, E, "iommu-map id-base outside iommu-map-mask (-EFAULT)",
            "clear the id-base bits that iommu-map-mask drops (id-base & ~mask must be 0)"),
        new(TopologyRules.MapPhandleUnresolved, E, "iommu-map phandle names no node", "point the entry at an existing IOMMU node (&label)"),
        new(TopologyRules.MapTargetNotProvider, W, "iommu-map targets a node without #iommu-cells", "point the entry at the IOMMU node (the one with #iommu-cells)"),
        new(TopologyRules.MapDisabledTarget, W, "enabled iommu-map user targets a disabled IOMMU", "enable the IOMMU, or remove the entries that target it"),
        new(TopologyRules.MapCellsTooMany, E, "iommu-map target #iommu-cells above 16 (v7.2+)", "keep the target's #iommu-cells at 16 or fewer"),
        new(TopologyRules.MapMultiCellRange, E, "iommu-map range with a multi-cell output (v7.2+)", "split the range into length-1 entries, one per ID"),
        new(TopologyRules.MapLegacyOneCell, I, "1-cell iommu-map entries for a 2-cell IOMMU (the tolerated \"bad map\" form)",
            "keep this form while kernels before v7.2 must read the map; v7.2+ reads it the same way with a one-time warning"),
        new(TopologyRules.MapLayoutsDiffer, E, "kernels before and after v7.2 read iommu-map differently",
            "target only IOMMUs with #iommu-cells = <1>, or write a map both framings agree on"),
        new(TopologyRules.MapOverlap, W, "iommu-map entries overlap (the first match wins)", "make the entries' ID ranges disjoint"),
        new(MultiInstance, I, "a consumer references several IOMMU instances",
            "make sure every listed IOMMU can probe; check the probe orders with iommulab run (or scan)"),
        new(MapGap, W, "RIDs of a PCI host bridge that no iommu-map entry translates",
            "add iommu-map entries for these RIDs, or narrow bus-range to the buses in use"),

        new(AcpiRules.BadChecksum, W, "ACPI table checksum is wrong", "recompute the checksum byte so the table sums to zero"),
        new(AcpiRules.IortRevisionUnknown, I, "IORT revision newer than Linux knows", "check the table against the IORT revisions Linux supports (0 to 7)"),
        new(AcpiRules.IortUnknownNodeType, W, "IORT node type Linux does not know (skipped)", "remove the node, or use a node type Linux knows"),
        new(AcpiRules.IortTrailingBytes, I, "bytes after the last counted IORT node", "make the node count match the nodes, or trim the table length"),
        new(AcpiRules.IortNullOutputReference, W, "IORT ID mapping with a null output reference", "set the output reference to the offset of the ITS group or SMMU node"),
        new(AcpiRules.IortSingleMappingRefused, W, "IORT single-mapping flag where Linux refuses it",
            "clear the single-mapping flag: Linux honours it only on named components, root complexes and DeviceID mappings"),
        new(AcpiRules.IortDeviceIdIndexOverflow, W, "SMMUv3 DeviceID mapping index past the mapping count", "set the DeviceID mapping index below the node's mapping count"),
        new(AcpiRules.IortDuplicateSegment, W, "two IORT root complexes for one PCI segment", "give each root complex its own PCI segment: Linux uses only the first"),
        new(AcpiRules.IortDuplicateName, W, "two IORT named components with one name", "give each named component a unique object name: Linux uses only the first"),
        new(AcpiRules.IortMissingMemoryLimit, I, "IORT memory address size limit of 0", "set the memory address size limit to the DMA address bits the device drives"),
        new(AcpiRules.IortEndOfRangeOverlap, I, "IORT ranges share a boundary ID (IdCount stored as the number of IDs)",
            "store IdCount as the number of IDs minus one"),
        new(AcpiRules.ViotUnknownNodeType, W, "VIOT node type Linux does not know (skipped)", "remove the node, or use a node type Linux knows"),
        new(AcpiRules.ViotTrailingBytes, I, "bytes after the last counted VIOT node", "make the node count match the nodes, or trim the table length"),
    ];

    private static readonly FrozenDictionary<string, LintRule> ById = All.ToFrozenDictionary(r => r.Id, StringComparer.Ordinal);

    public static LintRule? Find(string id) => ById.GetValueOrDefault(id);
}
