namespace IommuLab.Firmware.Acpi.Viot;

/// <summary>VIOT node types (<c>enum acpi_viot_node_type</c>, VIOT version 1).</summary>
public enum ViotNodeType : byte
{
    PciRange = 1,
    MmioEndpoint = 2,
    VirtioIommuPci = 3,
    VirtioIommuMmio = 4,
}

/// <summary>A decoded VIOT node: its offset (what output-node references name), type and length.</summary>
public abstract record ViotNode(int Offset, byte RawType, ushort Length)
{
    public const int HeaderSize = 4;

    public ViotNodeType Type => (ViotNodeType)RawType;
}

/// <summary>
/// Type 1: PCI endpoints <c>BdfStart..BdfEnd</c> in segments <c>SegmentStart..SegmentEnd</c> behind the
/// virtio-iommu at <c>OutputNode</c>, numbered from <c>EndpointStart</c> (<c>struct acpi_viot_pci_range</c>).
/// </summary>
public sealed record ViotPciRange(
    int Offset, byte RawType, ushort Length,
    uint EndpointStart, ushort SegmentStart, ushort SegmentEnd, ushort BdfStart, ushort BdfEnd, ushort OutputNode)
    : ViotNode(Offset, RawType, Length)
{
    public const int Size = 24;
}

/// <summary>Type 2: one MMIO endpoint at <c>BaseAddress</c> with endpoint ID <c>Endpoint</c> (<c>struct acpi_viot_mmio</c>).</summary>
public sealed record ViotMmioEndpoint(int Offset, byte RawType, ushort Length, uint Endpoint, ulong BaseAddress, ushort OutputNode)
    : ViotNode(Offset, RawType, Length)
{
    public const int Size = 24;
}

/// <summary>Type 3: a virtio-iommu that is itself a PCI function (<c>struct acpi_viot_virtio_iommu_pci</c>).</summary>
public sealed record ViotVirtioIommuPci(int Offset, byte RawType, ushort Length, ushort Segment, ushort Bdf)
    : ViotNode(Offset, RawType, Length)
{
    public const int Size = 16;
}

/// <summary>Type 4: a virtio-mmio virtio-iommu at <c>BaseAddress</c> (<c>struct acpi_viot_virtio_iommu_mmio</c>).</summary>
public sealed record ViotVirtioIommuMmio(int Offset, byte RawType, ushort Length, ulong BaseAddress)
    : ViotNode(Offset, RawType, Length)
{
    public const int Size = 16;
}

/// <summary>A node of an unknown type; Linux warns "Unsupported node" and skips it.</summary>
public sealed record ViotUnknownNode(int Offset, byte RawType, ushort Length) : ViotNode(Offset, RawType, Length);

/// <summary>
/// The endpoint a device resolves to: the VIOT node that matched, the virtio-iommu node behind it and the
/// endpoint ID handed to acpi_iommu_fwspec_init().
/// </summary>
public sealed record ViotEndpointMatch(ViotNode Endpoint, ViotNode Iommu, uint EndpointId);
