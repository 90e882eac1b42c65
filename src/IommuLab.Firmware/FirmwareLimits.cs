using IommuLab.Firmware.Acpi;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.DeviceTree.Dts;

namespace IommuLab.Firmware;

/// <summary>The size limits a user can raise; each has one command-line switch for every input format.</summary>
public enum FirmwareLimit
{
    /// <summary>Node nesting: DTB (<c>DtbReaderOptions.MaxDepth</c>) and DTS (<c>DtsParserOptions.MaxNodeDepth</c>).</summary>
    Depth,

    /// <summary>Nodes: DTB nodes, DTS node bodies as written, IORT/VIOT nodes.</summary>
    Nodes,

    /// <summary>One property value in bytes (DTB, DTS, and what /incbin/ reads).</summary>
    PropertySize,

    /// <summary>IORT ID mappings, VIOT endpoint nodes, <c>iommu-map</c> entries of a device tree (each counted over the whole input).</summary>
    Mappings,

    /// <summary>DTS /include/ nesting.</summary>
    IncludeDepth,

    /// <summary>Nesting of one DTS integer expression.</summary>
    ExpressionDepth,
}

/// <summary>
/// Every user-raisable limit of the firmware readers in one object, so a front end (each CLI command, <c>scan</c>,
/// a library caller) sets them once and gets the per-format options from it. A null limit keeps that format's
/// own default (see <see cref="DefaultFor"/>): the DTB depth default is the kernel's 64 while DTS allows 256, as dtc does.
/// </summary>
public sealed record FirmwareLimits
{
    /// <summary>All formats' own defaults.</summary>
    public static FirmwareLimits Default { get; } = new();

    /// <summary>Default of <see cref="MaxMappings"/>: IORT ID mappings, VIOT endpoints and <c>iommu-map</c> entries per input.</summary>
    public const int DefaultMaxMappings = 1 << 20;

    public int? MaxDepth { get; init; }

    public int? MaxNodes { get; init; }

    public int? MaxPropertySize { get; init; }

    public int? MaxMappings { get; init; }

    public int? MaxIncludeDepth { get; init; }

    public int? MaxExpressionDepth { get; init; }

    /// <summary>Folders searched for DTS /include/ and /incbin/ files (dtc's -i); not a limit, carried along for convenience.</summary>
    public IReadOnlyList<string> IncludePaths { get; init; } = [];

    /// <summary>The command-line switch that raises <paramref name="limit"/>.</summary>
    public static string Switch(FirmwareLimit limit) => limit switch
    {
        FirmwareLimit.Depth => "--max-depth",
        FirmwareLimit.Nodes => "--max-nodes",
        FirmwareLimit.PropertySize => "--max-property-size",
        FirmwareLimit.Mappings => "--max-mappings",
        FirmwareLimit.IncludeDepth => "--max-include-depth",
        _ => "--max-expression-depth",
    };

    /// <summary>The default of <paramref name="limit"/> per format, as users read it in <c>--help</c> and the docs.</summary>
    public static string DefaultFor(FirmwareLimit limit) => limit switch
    {
        FirmwareLimit.Depth => $"DTB {DtbReaderOptions.Default.MaxDepth}, the kernel's FDT_MAX_DEPTH; DTS {DtsParserOptions.Default.MaxNodeDepth}",
        FirmwareLimit.Nodes => $"DTB and DTS {DtbReaderOptions.Default.MaxNodes}, IORT and VIOT {AcpiTableOptions.Default.MaxNodes}",
        FirmwareLimit.PropertySize => $"{DtbReaderOptions.Default.MaxPropertyLength} bytes",
        FirmwareLimit.Mappings => $"{DefaultMaxMappings}",
        FirmwareLimit.IncludeDepth => $"{DtsParserOptions.Default.MaxIncludeDepth}",
        _ => $"{DtsParserOptions.Default.MaxExpressionDepth}",
    };

    /// <summary>The end of a limit error: which switch (and library option) raises it.</summary>
    internal static string Hint(FirmwareLimit limit, string option) => $"; raise the limit with {Switch(limit)} ({option})";

    /// <summary>The value of <paramref name="limit"/>, or null when the format default applies.</summary>
    public int? Get(FirmwareLimit limit) => limit switch
    {
        FirmwareLimit.Depth => MaxDepth,
        FirmwareLimit.Nodes => MaxNodes,
        FirmwareLimit.PropertySize => MaxPropertySize,
        FirmwareLimit.Mappings => MaxMappings,
        FirmwareLimit.IncludeDepth => MaxIncludeDepth,
        _ => MaxExpressionDepth,
    };

    public DtbReaderOptions Dtb => new()
    {
        MaxDepth = MaxDepth ?? DtbReaderOptions.Default.MaxDepth,
        MaxNodes = MaxNodes ?? DtbReaderOptions.Default.MaxNodes,
        MaxPropertyLength = MaxPropertySize ?? DtbReaderOptions.Default.MaxPropertyLength,
    };

    public DtsParserOptions Dts => new()
    {
        IncludePaths = IncludePaths,
        MaxNodeDepth = MaxDepth ?? DtsParserOptions.Default.MaxNodeDepth,
        MaxNodes = MaxNodes ?? DtsParserOptions.Default.MaxNodes,
        MaxPropertyLength = MaxPropertySize ?? DtsParserOptions.Default.MaxPropertyLength,
        MaxIncludeDepth = MaxIncludeDepth ?? DtsParserOptions.Default.MaxIncludeDepth,
        MaxExpressionDepth = MaxExpressionDepth ?? DtsParserOptions.Default.MaxExpressionDepth,
    };

    public AcpiTableOptions Acpi => new()
    {
        MaxNodes = MaxNodes ?? AcpiTableOptions.Default.MaxNodes,
        MaxIdMappings = MaxMappings ?? AcpiTableOptions.Default.MaxIdMappings,
    };

    /// <summary>Most <c>iommu-map</c> entries in one device tree.</summary>
    public int IommuMapEntries => MaxMappings ?? DefaultMaxMappings;
}
