using System.Buffers.Binary;
using IommuLab.Firmware.Acpi;
using IommuLab.Firmware.Acpi.Viot;
using IommuLab.Tests.Support;

namespace IommuLab.Tests.Acpi;

public sealed class ViotTests
{
    private const string Src = "test.viot";

    internal static (ViotBuilder Builder, byte[] Bytes) Sample()
    {
        var b = new ViotBuilder();
        var pci = b.VirtioPci(0, 0x0008);
        var mmio = b.VirtioMmio(0x0a00_0000);
        b.PciRange(0x100, 0, 1, 0x0010, 0x00ff, pci);
        b.PciRange(0x9000, 0, 0, 0x0020, 0x002f, mmio);
        b.Mmio(0x42, 0x0a00_3e00, mmio);
        return (b, b.Build());
    }

    private static ViotTable Load(byte[] bytes) => Assert.IsType<ViotTable>(AcpiTable.Load(bytes, Src));

    [Fact]
    public void Every_node_type_decodes()
    {
        var t = Load(Sample().Bytes);
        Assert.True(t.Header.ChecksumValid);
        Assert.Empty(t.Problems);
        Assert.Equal([ViotNodeType.VirtioIommuPci, ViotNodeType.VirtioIommuMmio, ViotNodeType.PciRange, ViotNodeType.PciRange, ViotNodeType.MmioEndpoint],
            t.Nodes.Select(n => n.Type));
        var viommu = Assert.IsType<ViotVirtioIommuPci>(t.Nodes[0]);
        Assert.Equal((ushort)8, viommu.Bdf);
        Assert.Equal(0x0a00_0000ul, Assert.IsType<ViotVirtioIommuMmio>(t.Nodes[1]).BaseAddress);
        var range = Assert.IsType<ViotPciRange>(t.Nodes[2]);
        Assert.Equal((0x100u, (ushort)0, (ushort)1, (ushort)0x10, (ushort)0xff), (range.EndpointStart, range.SegmentStart, range.SegmentEnd, range.BdfStart, range.BdfEnd));
        Assert.Equal(2, t.Iommus.Count());
    }

    [Fact]
    public void Pci_endpoint_ids_count_from_the_range_start_per_segment()
    {
        var t = Load(Sample().Bytes);
        var m = t.ResolvePci(0, 0x0012)!;
        Assert.Same(t.Nodes[2], m.Endpoint);
        Assert.Same(t.Nodes[0], m.Iommu);
        Assert.Equal(0x102u, m.EndpointId);
        Assert.Equal(0x1_0000u + 0x100u + 0x5u, t.ResolvePci(1, 0x0015)!.EndpointId);
        Assert.Null(t.ResolvePci(2, 0x0015));
        Assert.Null(t.ResolvePci(0, 0x0100));
    }

    [Fact]
    public void Overlapping_ranges_resolve_to_the_last_in_the_table_as_the_kernel_list_is_built_head_first()
    {
        var t = Load(Sample().Bytes);
        var m = t.ResolvePci(0, 0x0021)!;
        Assert.Same(t.Nodes[3], m.Endpoint);
        Assert.Same(t.Nodes[1], m.Iommu);
        Assert.Equal(0x9001u, m.EndpointId);
    }

    [Fact]
    public void Mmio_endpoints_match_on_the_exact_base_address()
    {
        var t = Load(Sample().Bytes);
        Assert.Equal(0x42u, t.ResolveMmio(0x0a00_3e00)!.EndpointId);
        Assert.Null(t.ResolveMmio(0x0a00_3e04));
    }

    [Fact]
    public void The_virtio_iommu_function_is_recognised_so_it_is_not_translated_through_itself()
    {
        var t = Load(Sample().Bytes);
        Assert.Same(t.Nodes[0], t.IommuFunction(0, 8));
        Assert.Null(t.IommuFunction(0, 9));
    }

    [Fact]
    public void Malformed_viot_tables_give_typed_errors()
    {
        var (b, bytes) = Sample();
        var c = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(c.AsSpan(38), 40);
        Assert.Equal(AcpiTableError.NodeOffsetOutOfRange, Assert.Throws<AcpiFormatException>(() => AcpiTable.Load(c, Src)).Kind);

        c = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(c.AsSpan(36), 60);
        Assert.Equal(AcpiTableError.NodeCountImpossible, Assert.Throws<AcpiFormatException>(() => AcpiTable.Load(c, Src)).Kind);

        c = (byte[])bytes.Clone();
        var range = b.OffsetOf(2);
        BinaryPrimitives.WriteUInt16LittleEndian(c.AsSpan(range + 2), 12);
        var e = Assert.Throws<AcpiFormatException>(() => AcpiTable.Load(c, Src));
        Assert.Equal((AcpiTableError.NodeTooShort, range + 2L), (e.Kind, e.Offset));

        c = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(c.AsSpan(range + 2), 0x200);
        Assert.Equal(AcpiTableError.NodeOverrunsTable, Assert.Throws<AcpiFormatException>(() => AcpiTable.Load(c, Src)).Kind);

        c = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(c.AsSpan(range + 16), b.OffsetOf(3));
        e = Assert.Throws<AcpiFormatException>(() => AcpiTable.Load(c, Src));
        Assert.Equal((AcpiTableError.ReferenceToWrongType, range + 16L), (e.Kind, e.Offset));
        Assert.Contains($"expected the output node of the PCI range node at 0x{range:x} to be a virtio-iommu node, found the PCI range node", e.Message);

        c = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(c.AsSpan(range + 16), 0x31);
        Assert.Equal(AcpiTableError.ReferenceToNoNode, Assert.Throws<AcpiFormatException>(() => AcpiTable.Load(c, Src)).Kind);
    }

    [Fact]
    public void Unknown_viot_node_types_are_skipped_with_the_kernel_warning()
    {
        var b = new ViotBuilder();
        b.Add(9, [0, 0, 0, 0]);
        var t = Load(b.Build());
        var p = Assert.Single(t.Problems);
        Assert.Equal(AcpiRules.ViotUnknownNodeType, p.RuleId);
        Assert.Equal("ACPI: VIOT: Unsupported node 9", p.KernelLog);
    }

    [Fact]
    [Trait("Category", "Corpus")]
    public void Qemu_viot_tables_put_the_pci_bus_behind_the_virtio_iommu_function()
    {
        foreach (var file in Corpus.IortFiles("qemu", "*VIOT*.dat"))
        {
            var t = Assert.IsType<ViotTable>(AcpiTable.LoadFile(file));
            var viommu = Assert.Single(t.Nodes.OfType<ViotVirtioIommuPci>());
            var ranges = t.Nodes.OfType<ViotPciRange>().ToList();
            Assert.NotEmpty(ranges);
            var first = ranges[0];
            var m = t.ResolvePci(first.SegmentStart, first.BdfStart)!;
            Assert.Same(viommu, m.Iommu);
            Assert.Equal(first.EndpointStart, m.EndpointId);
            Assert.NotNull(t.IommuFunction(viommu.Segment, viommu.Bdf));
        }
    }
}
