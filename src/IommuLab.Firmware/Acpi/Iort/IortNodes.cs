namespace IommuLab.Firmware.Acpi.Iort;

/// <summary>IORT node types (IORT spec "Node types" table; <c>enum acpi_iort_node_type</c>).</summary>
public enum IortNodeType : byte
{
    ItsGroup = 0,
    NamedComponent = 1,
    RootComplex = 2,

    /// <summary>SMMUv1 or SMMUv2.</summary>
    Smmu = 3,
    SmmuV3 = 4,

    /// <summary>SMMUv3 performance monitor counter group.</summary>
    Pmcg = 5,

    /// <summary>Reserved memory range (IORT E.c/E.d on).</summary>
    Rmr = 6,

    /// <summary>GICv5 interrupt wire bridge (IORT E.g).</summary>
    Iwb = 7,
}

/// <summary>
/// The 16-byte header every IORT node starts with (<c>struct acpi_iort_node</c>). In table revision 0 the
/// <c>Identifier</c> field was reserved; from revision 3 (E.b) it is a unique node identifier.
/// </summary>
/// <remarks><para><c>Offset</c>: byte offset of the node from the start of the table, the value ID mapping
/// output references use.</para></remarks>
public sealed record IortNodeHeader(
    int Offset,
    byte RawType,
    ushort Length,
    byte Revision,
    uint Identifier,
    uint MappingCount,
    uint MappingOffset)
{
    public const int Size = 16;

    public IortNodeType Type => (IortNodeType)RawType;
}

/// <summary>
/// One ID mapping (<c>struct acpi_iort_id_mapping</c>): input IDs <c>InputBase .. InputBase + IdCount</c>
/// (inclusive: the field holds the number of IDs minus one) to <c>OutputBase ..</c> on the node at
/// <c>OutputReference</c>.
/// </summary>
/// <remarks>
/// <para><c>Index</c>: position in the node's mapping array (the index iort_node_get_id() takes).</para>
/// <para><c>Offset</c>: absolute byte offset of the mapping in the table.</para>
/// </remarks>
public sealed record IortIdMapping(int Index, int Offset, uint InputBase, uint IdCount, uint OutputBase, uint OutputReference, uint Flags)
{
    public const int Size = 20;

    /// <summary>Flags bit 0 (ACPI_IORT_ID_SINGLE_MAPPING): the node emits one ID, <c>OutputBase</c>, whatever the input.</summary>
    public bool SingleMapping => (Flags & 1) != 0;

    /// <summary>The last input ID the range covers, in 64 bits so a range ending at 0xffffffff does not wrap.</summary>
    public ulong InputLast => (ulong)InputBase + IdCount;

    /// <summary>How many IDs the range covers (IdCount + 1).</summary>
    public ulong NumberOfIds => (ulong)IdCount + 1;
}

/// <summary>Memory access properties of a named component or root complex (<c>struct acpi_iort_memory_access</c>).</summary>
/// <remarks><para><c>MemoryFlags</c>: bit 0 CPM (coherent path to memory), bit 1 DACS (device attributes are
/// cacheable and inner shareable), bit 2 CANWBS (E.e on).</para></remarks>
public sealed record IortMemoryAccess(uint CacheCoherency, byte Hints, byte MemoryFlags)
{
    public bool Coherent => CacheCoherency == 1;
}

/// <summary>A decoded IORT node: the header, the ID mappings, and the type's own fields in subclasses.</summary>
public abstract record IortNode(IortNodeHeader Header, IReadOnlyList<IortIdMapping> Mappings)
{
    public int Offset => Header.Offset;

    public IortNodeType Type => Header.Type;

    public byte Revision => Header.Revision;
}

/// <summary>Type 0: a group of GIC ITS instances, the end of MSI mapping chains.</summary>
public sealed record IortItsGroup(IortNodeHeader Header, IReadOnlyList<IortIdMapping> Mappings, IReadOnlyList<uint> ItsIdentifiers)
    : IortNode(Header, Mappings);

/// <summary>
/// Type 1: a device named by its ACPI namespace path (<c>struct acpi_iort_named_component</c>). Linux matches
/// it against the device's companion with strcmp (iort_match_node_callback()).
/// </summary>
/// <remarks>
/// <para><c>NodeFlags</c>: bit 0 stall supported ("dma-can-stall"), bits 1-5 PASID width ("pasid-num-bits"),
/// read by iort_named_component_init().</para>
/// <para><c>MemoryAddressLimit</c>: bits of address the device can drive; 0 is a firmware bug
/// nc_dma_get_range() reports.</para>
/// <para><c>ObjectName</c>: the NUL-terminated path; names need not end on a 4-byte boundary.</para>
/// </remarks>
public sealed record IortNamedComponent(
    IortNodeHeader Header,
    IReadOnlyList<IortIdMapping> Mappings,
    uint NodeFlags,
    IortMemoryAccess Memory,
    byte MemoryAddressLimit,
    string ObjectName) : IortNode(Header, Mappings)
{
    public bool StallSupported => (NodeFlags & 1) != 0;

    public uint PasidBits => (NodeFlags >> 1) & 0x1f;
}

/// <summary>Type 2: a PCI root complex (<c>struct acpi_iort_root_complex</c>); one per PCI segment.</summary>
/// <remarks>
/// <para><c>MemoryAddressLimit</c>: present from node revision 1 (rc_dma_get_range() ignores it before).</para>
/// <para><c>PasidCapabilities</c>: present from node revision 4 (E.d) when the node is long enough; bits 0-4
/// are the maximum PASID width.</para>
/// <para><c>RcFlags</c>: the 32-bit flags word after the PASID capabilities, present from node revision 4 when
/// the node is long enough (bit 0: PASID forwarding to the SMMU, E.e).</para>
/// </remarks>
public sealed record IortRootComplex(
    IortNodeHeader Header,
    IReadOnlyList<IortIdMapping> Mappings,
    IortMemoryAccess Memory,
    uint AtsAttribute,
    uint PciSegment,
    byte? MemoryAddressLimit,
    ushort? PasidCapabilities,
    uint? RcFlags) : IortNode(Header, Mappings)
{
    /// <summary>ATS attribute bit 0: what iort_pci_rc_supports_ats() tests to set IOMMU_FWSPEC_PCI_RC_ATS.</summary>
    public bool AtsSupported => (AtsAttribute & 1) != 0;

    public bool PriSupported => (AtsAttribute & 2) != 0;

    public bool PasidForwardSupported => (AtsAttribute & 4) != 0;

    /// <summary>Memory flags bit 2 (CANWBS): what newer kernels turn into IOMMU_FWSPEC_PCI_RC_CANWBS.</summary>
    public bool CanWbs => (Memory.MemoryFlags & 4) != 0;
}

/// <summary>An SMMUv1/v2 interrupt entry: GSIV and flags (bit 0: edge triggered).</summary>
public sealed record IortSmmuInterrupt(uint Gsiv, uint Flags);

/// <summary>SMMUv1/v2 model values (the Model field of <c>struct acpi_iort_smmu</c>).</summary>
public enum IortSmmuModel : uint
{
    GenericV1 = 0,
    GenericV2 = 1,
    CoreLinkMmu400 = 2,
    CoreLinkMmu500 = 3,
    CoreLinkMmu401 = 4,
    CaviumThunderX = 5,
}

/// <summary>Type 3: an SMMUv1 or SMMUv2 (<c>struct acpi_iort_smmu</c>), an IOMMU target of ID mapping walks.</summary>
/// <remarks><para><c>Flags</c>: bit 0 DVM supported, bit 1 coherent page-table walk.</para></remarks>
public sealed record IortSmmu(
    IortNodeHeader Header,
    IReadOnlyList<IortIdMapping> Mappings,
    ulong BaseAddress,
    ulong Span,
    uint Model,
    uint Flags,
    IortSmmuInterrupt GlobalInterrupt,
    IortSmmuInterrupt GlobalConfigInterrupt,
    IReadOnlyList<IortSmmuInterrupt> ContextInterrupts,
    IReadOnlyList<IortSmmuInterrupt> PmuInterrupts) : IortNode(Header, Mappings)
{
    /// <summary>The model name, or null for a value the spec does not define.</summary>
    public IortSmmuModel? KnownModel => Enum.IsDefined((IortSmmuModel)Model) ? (IortSmmuModel)Model : null;

    public bool CoherentWalk => (Flags & 2) != 0;
}

/// <summary>SMMUv3 model values (the Model field of <c>struct acpi_iort_smmu_v3</c>).</summary>
public enum IortSmmuV3Model : uint
{
    Generic = 0,
    HiSiliconHi161x = 1,
    CaviumCn99xx = 2,
}

/// <summary>Type 4: an SMMUv3 (<c>struct acpi_iort_smmu_v3</c>).</summary>
/// <remarks>
/// <para><c>Flags</c>: bit 0 COHACC override, bits 1-2 HTTU override, bit 3 proximity domain valid, bit 4
/// DeviceID mapping index valid (node revision 5, E.e, on).</para>
/// <para><c>ProximityDomain</c>, <c>DeviceIdMappingIndex</c>: the raw fields, null when the node is too short
/// to hold them.</para>
/// <para><c>EffectiveDeviceIdMappingIndex</c>: the mapping iort_get_id_mapping_index() returns for this node
/// (the SMMU's own MSI mapping, which ID walks through the node skip), or null when it returns an error.</para>
/// </remarks>
public sealed record IortSmmuV3(
    IortNodeHeader Header,
    IReadOnlyList<IortIdMapping> Mappings,
    ulong BaseAddress,
    uint Flags,
    ulong VatosAddress,
    uint Model,
    uint EventGsiv,
    uint PriGsiv,
    uint GerrGsiv,
    uint SyncGsiv,
    uint? ProximityDomain,
    uint? DeviceIdMappingIndex,
    int? EffectiveDeviceIdMappingIndex) : IortNode(Header, Mappings)
{
    public IortSmmuV3Model? KnownModel => Enum.IsDefined((IortSmmuV3Model)Model) ? (IortSmmuV3Model)Model : null;

    public bool CohAccOverride => (Flags & 1) != 0;

    public uint HttuOverride => (Flags >> 1) & 3;

    public bool ProximityDomainValid => (Flags & 8) != 0;

    public bool DeviceIdValid => (Flags & 16) != 0;
}

/// <summary>Type 5: an SMMUv3 PMCG (<c>struct acpi_iort_pmcg</c>).</summary>
/// <remarks>
/// <para><c>NodeReference</c>: offset of the node the counters belong to (0 when none).</para>
/// <para><c>Page1BaseAddress</c>: from node revision 1 when the node is long enough.</para>
/// <para><c>EffectiveDeviceIdMappingIndex</c>: 0 when iort_get_id_mapping_index() selects the first mapping
/// (no overflow GSIV and at least one mapping), else null.</para>
/// </remarks>
public sealed record IortPmcg(
    IortNodeHeader Header,
    IReadOnlyList<IortIdMapping> Mappings,
    ulong Page0BaseAddress,
    uint OverflowGsiv,
    uint NodeReference,
    ulong? Page1BaseAddress,
    int? EffectiveDeviceIdMappingIndex) : IortNode(Header, Mappings);

/// <summary>One reserved memory range of an RMR node (<c>struct acpi_iort_rmr_desc</c>).</summary>
public sealed record IortRmrDescriptor(int Offset, ulong BaseAddress, ulong Length);

/// <summary>Type 6: reserved memory ranges for the stream IDs its mappings produce (<c>struct acpi_iort_rmr</c>).</summary>
/// <remarks><para><c>Flags</c>: bit 0 remapping permitted, bit 1 privileged access, bits 2-9 access attributes.</para></remarks>
public sealed record IortRmr(
    IortNodeHeader Header,
    IReadOnlyList<IortIdMapping> Mappings,
    uint Flags,
    IReadOnlyList<IortRmrDescriptor> Ranges) : IortNode(Header, Mappings)
{
    public bool RemappingPermitted => (Flags & 1) != 0;

    public uint AccessAttributes => (Flags >> 2) & 0xff;
}

/// <summary>Type 7: a GICv5 interrupt wire bridge (<c>struct acpi_iort_iwb</c>): base address, IWB index and
/// the namespace path of its ACPI device.</summary>
public sealed record IortIwb(
    IortNodeHeader Header,
    IReadOnlyList<IortIdMapping> Mappings,
    ulong BaseAddress,
    ushort IwbIndex,
    string ObjectName) : IortNode(Header, Mappings);

/// <summary>A node of a type this model does not know (8 and up); Linux skips it by its length.</summary>
public sealed record IortUnknownNode(IortNodeHeader Header, IReadOnlyList<IortIdMapping> Mappings) : IortNode(Header, Mappings);
