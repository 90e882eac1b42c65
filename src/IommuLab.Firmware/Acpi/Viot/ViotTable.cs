namespace IommuLab.Firmware.Acpi.Viot;

/// <summary>
/// A decoded VIOT (virtio-iommu topology, drivers/acpi/viot.c): the nodes in table order and the endpoint lookup
/// Linux performs. Immutable.
/// </summary>
public sealed class ViotTable : AcpiTable
{
    private readonly Dictionary<int, ViotNode> _byOffset;

    internal ViotTable(string source, AcpiTableHeader header, IReadOnlyList<ViotNode> nodes, IReadOnlyList<AcpiProblem> problems)
        : base(source, header, problems)
    {
        Nodes = nodes;
        _byOffset = nodes.ToDictionary(n => n.Offset);
    }

    public IReadOnlyList<ViotNode> Nodes { get; }

    /// <summary>The virtio-iommu nodes (PCI and MMIO), the IOMMU instances of the table.</summary>
    public IEnumerable<ViotNode> Iommus => Nodes.Where(n => n.Type is ViotNodeType.VirtioIommuPci or ViotNodeType.VirtioIommuMmio);

    public ViotNode? NodeAt(int offset) => _byOffset.GetValueOrDefault(offset);

    /// <summary>
    /// Models viot_pci_dev_iommu_init() for one DMA alias: the first PCI range, in the kernel's list order, holding
    /// (segment, BDF), with endpoint ID <c>((segment - segment_start) &lt;&lt; 16) + bdf - bdf_start + endpoint_start</c>
    /// in wrapping 32-bit arithmetic. acpi_viot_init() adds each range at the head of its list, so the kernel
    /// searches the ranges in reverse table order: when ranges overlap, the last one in the table wins.
    /// Null means -ENODEV.
    /// </summary>
    public ViotEndpointMatch? ResolvePci(ushort segment, ushort bdf)
    {
        foreach (var range in Nodes.OfType<ViotPciRange>().Reverse())
        {
            if (segment >= range.SegmentStart && segment <= range.SegmentEnd && bdf >= range.BdfStart && bdf <= range.BdfEnd)
            {
                var id = unchecked((uint)((segment - range.SegmentStart) << 16) + (uint)(bdf - range.BdfStart) + range.EndpointStart);
                return new ViotEndpointMatch(range, _byOffset[range.OutputNode], id);
            }
        }

        return null;
    }

    /// <summary>
    /// Models viot_mmio_dev_iommu_init(): the MMIO endpoint whose base address equals the device's first memory
    /// resource start, searched in the kernel's (reverse table) order. Null means -ENODEV.
    /// </summary>
    public ViotEndpointMatch? ResolveMmio(ulong resourceStart)
    {
        foreach (var ep in Nodes.OfType<ViotMmioEndpoint>().Reverse())
        {
            if (ep.BaseAddress == resourceStart)
            {
                return new ViotEndpointMatch(ep, _byOffset[ep.OutputNode], ep.Endpoint);
            }
        }

        return null;
    }

    /// <summary>
    /// The virtio-iommu PCI node that is the function (segment, BDF) itself, if any: viot_dev_iommu_init()
    /// refuses to translate the IOMMU through itself (-EINVAL, "We're not translating ourself").
    /// </summary>
    public ViotVirtioIommuPci? IommuFunction(ushort segment, ushort bdf) =>
        Nodes.OfType<ViotVirtioIommuPci>().FirstOrDefault(n => n.Segment == segment && n.Bdf == bdf);
}
