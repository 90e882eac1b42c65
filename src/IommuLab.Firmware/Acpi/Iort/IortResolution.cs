namespace IommuLab.Firmware.Acpi.Iort;

/// <summary>Node types a walk stops at, one bit per type: <c>IORT_TYPE_MASK(type)</c> is <c>1 &lt;&lt; type</c>.</summary>
[Flags]
public enum IortTargets
{
    None = 0,
    ItsGroup = 1 << 0,
    NamedComponent = 1 << 1,
    RootComplex = 1 << 2,
    Smmu = 1 << 3,
    SmmuV3 = 1 << 4,
    Pmcg = 1 << 5,

    /// <summary><c>IORT_IOMMU_TYPE</c>: SMMUv1/v2 and SMMUv3, what iort_iommu_configure_id() looks for.</summary>
    Iommu = Smmu | SmmuV3,

    /// <summary><c>IORT_MSI_TYPE</c>: the ITS group, what MSI domain set-up looks for.</summary>
    Msi = ItsGroup,
}

/// <summary>What iort_id_map() returns for one mapping and one input ID.</summary>
public enum IortIdMapOutcome
{
    /// <summary>0: the ID is in range (or the mapping is a single mapping on a named component or root complex).</summary>
    Mapped,

    /// <summary>-ENXIO: the ID is outside the range.</summary>
    NoMatch,

    /// <summary>-EAGAIN: the ID is the last of a range of more than one ID; the match is provisional.</summary>
    EndOfRange,

    /// <summary>-ENXIO after "SINGLE MAPPING flag not allowed for node type": a single mapping on a node other
    /// than a named component or root complex.</summary>
    SingleMappingRefused,

    /// <summary>-ENXIO after "conflicting mapping for input ID": a second match, after an end-of-range one,
    /// that does not start at the ID.</summary>
    ConflictRejected,
}

/// <summary>How a walk step chose its mapping.</summary>
public enum IortHopRule
{
    /// <summary>The input ID is inside the mapping's range (not at the end of a range of several IDs).</summary>
    Range,

    /// <summary>A single mapping on a named component or root complex: the output base whatever the input.</summary>
    SingleMapping,

    /// <summary>The ID is the last of a range and no later mapping starting there took over: the provisional
    /// end-of-range match stands.</summary>
    EndOfRange,

    /// <summary>A mapping starting at the ID took over from an earlier end-of-range match (the firmware
    /// workaround: "applying workaround").</summary>
    EndOfRangeSuperseded,
}

/// <summary>Why iort_node_map_id() stopped.</summary>
public enum IortWalkEnd
{
    /// <summary>Reached a node of a wanted type: returns it with the translated ID.</summary>
    Reached,

    /// <summary>The node it arrived at has no ID mappings (an ITS group when looking for an SMMU): NULL.</summary>
    NoMappings,

    /// <summary>The node's first mapping, or the chosen one, has output reference 0 (FW_BUG): NULL.</summary>
    NullReference,

    /// <summary>No mapping of the node covers the ID: NULL.</summary>
    NoMatch,
}

/// <summary>One step of a walk: the node left, the ID it was given, the mapping taken and the ID produced.</summary>
public sealed record IortWalkHop(IortNode Node, uint IdIn, IortIdMapping Mapping, uint IdOut, IortHopRule Rule);

/// <summary>The result of iort_node_map_id(): the node reached (or null) and the output ID.</summary>
/// <remarks>
/// <para><c>IdOut</c>: the translated ID, or the unchanged input ID when the walk fails (as the kernel does).</para>
/// <para><c>StoppedAt</c>: the node the walk ended on: the target, or the node that could not go on.</para>
/// <para><c>KernelLog</c>: the pr_err/pr_warn lines the walk prints, in order.</para>
/// </remarks>
public sealed record IortWalk(
    IortNode Start,
    uint IdIn,
    IortNode? Target,
    uint IdOut,
    IReadOnlyList<IortWalkHop> Hops,
    IortWalkEnd End,
    IortNode StoppedAt,
    IReadOnlyList<string> KernelLog);

/// <summary>Why iort_node_get_id() returned NULL, or that it did not.</summary>
public enum IortGetIdEnd
{
    Found,

    /// <summary>The index is not below the node's mapping count (the normal end of the named-component loop).</summary>
    NoSuchIndex,

    /// <summary>The mapping's output reference is 0 (FW_BUG).</summary>
    NullReference,

    /// <summary>The mapping lacks the single-mapping flag, or the node type does not take one.</summary>
    NotSingleMapping,
}

/// <summary>Why the named-component loop (iort_nc_iommu_map()) stops, assuming every xlate succeeds.</summary>
public enum IortNcEnd
{
    /// <summary>No named component has the object name: iort_iommu_configure_id() returns -ENODEV.</summary>
    NodeNotFound,

    /// <summary>iort_node_get_id() returned NULL for the next index (see <see cref="IortNcResolution.GetIdEnd"/>).</summary>
    GetIdFailed,

    /// <summary>The mapping's parent is not an SMMU and the walk from it reached none (an ITS group, say).</summary>
    WalkFailed,
}

/// <summary>One SMMU the named-component loop finds: mapping index, parent, and the (SMMU, stream ID) for xlate.</summary>
/// <remarks><para><c>Walk</c>: the iort_node_map_id() walk from the parent when the parent is not itself an
/// SMMU, else null.</para></remarks>
public sealed record IortNcStep(int Index, IortIdMapping Mapping, IortNode Parent, uint InitialId, IortWalk? Walk, IortNode Iommu, uint StreamId);

/// <summary>
/// What iort_nc_iommu_map() does for a named component without an input ID: the ordered (SMMU, stream ID) pairs
/// it hands to iort_iommu_xlate(), one per mapping index 0, 1, 2... while each has the single-mapping flag and
/// leads to an SMMU, and why it stops. The kernel also stops at the first xlate error (deferral included);
/// that is kernel state, left to the caller. With no steps the kernel returns -ENODEV.
/// </summary>
/// <remarks>
/// <para><c>EndIndex</c>: the mapping index at which the loop stopped (null when the node was not found).</para>
/// <para><c>GetIdEnd</c>: what iort_node_get_id() said at that index when <c>End</c> is GetIdFailed.</para>
/// <para><c>FailedWalk</c>: the walk that reached no SMMU when <c>End</c> is WalkFailed.</para>
/// </remarks>
public sealed record IortNcResolution(
    string ObjectName,
    IortNamedComponent? Node,
    IReadOnlyList<IortNcStep> Steps,
    IortNcEnd End,
    int? EndIndex,
    IortGetIdEnd? GetIdEnd,
    IortWalk? FailedWalk,
    IReadOnlyList<string> KernelLog)
{
    /// <summary>The (SMMU node, stream ID) pairs in the order the kernel xlates them.</summary>
    public IReadOnlyList<(IortNode Iommu, uint StreamId)> Outputs => [.. Steps.Select(s => (s.Iommu, s.StreamId))];
}

/// <summary>
/// What iort_pci_iommu_init() computes for one PCI requester ID (one DMA alias) in a segment: the root complex
/// iort_scan_node() finds and the iort_node_map_id() walk from it to an SMMU. A null root complex makes
/// iort_iommu_configure_id() return -ENODEV; a walk without a target makes iort_iommu_xlate() return -ENODEV.
/// </summary>
public sealed record IortPciResolution(uint Segment, ushort Rid, IortRootComplex? RootComplex, IortWalk? Walk)
{
    public IortNode? Iommu => Walk?.Target;

    public uint? StreamId => Walk?.Target is null ? null : Walk.IdOut;
}
