namespace IommuLab.Firmware.Topology;

/// <summary>How a kernel frames <c>iommu-map</c> entries.</summary>
public enum IommuMapLayout
{
    /// <summary>
    /// Fixed 4-cell entries (id-base, phandle, out-base, length), one output cell whatever the target declares:
    /// of_map_id() in every kernel before v7.2 (read in v6.1/v6.8/v6.12 drivers/of/base.c).
    /// </summary>
    FourCell,

    /// <summary>
    /// Entries of 3 + N cells, N = the target's <c>#iommu-cells</c> (1 when it has none), with the legacy
    /// "1-cell entries for a 2-cell target" form tolerated: of_map_id() from v7.2 on, after commit
    /// ccb2fd725d41 "of: Respect #{iommu,msi}-cells in maps" (Robin Murphy; series v16, applied by Rob Herring
    /// in June 2026 for the v7.2 merge window).
    /// </summary>
    TargetCells,
}

/// <summary>One decoded <c>iommu-map</c> entry.</summary>
/// <remarks>
/// <para><c>TargetPath</c>: The node the phandle resolves to, or null when none has it.</para>
/// <para><c>TargetIommuCells</c>: The target's readable <c>#iommu-cells</c>, or null.</para>
/// <para><c>OutBase</c>: The output specifier base cells (1 in the four-cell layout).</para>
/// <para><c>IdBaseOutsideMask</c>: id-base has bits outside <c>iommu-map-mask</c>: a scan reaching it returns -EFAULT.</para>
/// </remarks>
public sealed record IommuMapEntry(
    int Index,
    int CellOffset,
    uint IdBase,
    uint Phandle,
    string? TargetPath,
    bool TargetAvailable,
    uint? TargetIommuCells,
    IReadOnlyList<uint> OutBase,
    uint Length,
    bool IdBaseOutsideMask)
{
    /// <summary>The first input ID past this entry's range (64-bit, so a range ending at 2^32 does not wrap).</summary>
    public ulong IdEnd => (ulong)IdBase + Length;

    /// <summary>"0x100..0x1ff", or "0x100 (length 0)" for an empty range (real boards have them: fsl-mc).</summary>
    public string IdRangeText => Length == 0 ? $"0x{IdBase:x} (length 0)" : $"0x{IdBase:x}..0x{IdEnd - 1:x}";
}

/// <summary>Why a map cannot be framed past some point (or at all).</summary>
public enum IommuMapFault
{
    /// <summary>"Bad iommu-map length": the cells left do not form an entry (-EINVAL).</summary>
    BadLength,

    /// <summary>An entry's phandle names no node, so its size is unknown (-ENODEV when a scan reaches it).</summary>
    UnresolvedPhandle,

    /// <summary>The target's <c>#iommu-cells</c> exceeds MAX_PHANDLE_ARGS (-EINVAL when a scan reaches it).</summary>
    TooManyCells,
}

/// <summary>Where a layout's framing stops. A lookup matching an earlier entry never reaches it (except for
/// the four-cell layout's length check, which rejects the whole map up front).</summary>
/// <remarks>
/// <para><c>IdBase</c>: The id-base of the partial entry, when one could be read (checked against the mask first).</para>
/// </remarks>
public sealed record IommuMapStop(IommuMapFault Fault, int EntryIndex, int CellOffset, uint? IdBase, Errno Errno, string KernelLog);

/// <summary>An <c>iommu-map</c> as one layout reads it.</summary>
/// <remarks>
/// <para><c>LegacyOneCellTolerated</c>: TargetCells only: the map matched the legacy pattern (all entries target
/// the first entry's 2-cell provider with length 1) and is read with 1 output cell.</para>
/// </remarks>
public sealed record IommuMapReading(IommuMapLayout Layout, IReadOnlyList<IommuMapEntry> Entries, IommuMapStop? Stop, bool LegacyOneCellTolerated);

/// <summary>What of_map_id() returns for one input ID.</summary>
public enum MapIdOutcome
{
    /// <summary>Returns 0 with a target and output args.</summary>
    Translated,

    /// <summary>Returns 0 with no target ("no iommu-map translation"): the caller gets no IOMMU.</summary>
    NoMatch,

    /// <summary>Returns a negative errno.</summary>
    Failed,
}

/// <summary>The result of <see cref="IommuMapUser.MapId"/>.</summary>
/// <remarks>
/// <para><c>Args</c>: The output specifier (Translated), or the unchanged input ID (NoMatch), or empty.</para>
/// <para><c>KernelLog</c>: What the kernel prints (pr_err / pr_info / pr_warn_once), or null.</para>
/// </remarks>
public sealed record MapIdResult(MapIdOutcome Outcome, Errno? Errno, int? EntryIndex, string? TargetPath, IReadOnlyList<uint> Args, string? KernelLog);
