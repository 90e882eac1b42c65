namespace IommuLab.Firmware.Topology;

public enum ProblemSeverity
{
    Info,
    Warning,
    Error,
}

/// <summary>One firmware problem: a stable rule id, how bad it is, where (DT path) and a one-line message.</summary>
public sealed record TopologyProblem(string RuleId, ProblemSeverity Severity, string Path, string Message);

/// <summary>The stable rule ids of <see cref="TopologyProblem"/> (documented in docs/topology-json.md).</summary>
public static class TopologyRules
{
    public const string ProviderCellsUnreadable = "provider-iommu-cells-unreadable";
    public const string ProviderRegMalformed = "provider-reg-malformed";
    public const string IommusEmpty = "iommus-empty";
    public const string IommusLengthNotCells = "iommus-length-not-cells";
    public const string IommusEmptyEntry = "iommus-empty-entry";
    public const string IommusPhandleUnresolved = "iommus-phandle-unresolved";
    public const string IommusTargetNotProvider = "iommus-target-not-provider";
    public const string IommusArgsOverrun = "iommus-args-overrun";
    public const string IommusArgsTruncated = "iommus-args-truncated";
    public const string IommusEntriesIgnored = "iommus-entries-ignored";
    public const string IommusCellsMismatch = "iommus-cells-mismatch";
    public const string IommusDisabledProvider = "iommus-disabled-provider";
    public const string MapBadLength = "iommu-map-bad-length";
    public const string MapMaskUnreadable = "iommu-map-mask-unreadable";
    public const string MapIdBaseOutsideMask = "iommu-map-id-base-outside-mask";
    public const string MapPhandleUnresolved = "iommu-map-phandle-unresolved";
    public const string MapTargetNotProvider = "iommu-map-target-not-provider";
    public const string MapDisabledTarget = "iommu-map-disabled-target";
    public const string MapCellsTooMany = "iommu-map-cells-too-many";
    public const string MapMultiCellRange = "iommu-map-multi-cell-range";
    public const string MapLegacyOneCell = "iommu-map-legacy-one-cell";
    public const string MapLayoutsDiffer = "iommu-map-layouts-differ";
    public const string MapOverlap = "iommu-map-overlap";
}
