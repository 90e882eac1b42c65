using IommuLab.Firmware.Acpi;

namespace IommuLab.Tests.Acpi;

public sealed class AcpiTableTextTests
{
    [Fact]
    public void An_iort_renders_nodes_mappings_and_problems()
    {
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(0));
        var smmu = b.Add(4, 5, IortBuilder.SmmuV3(0x900_0000, flags: 0x10), Map.Single(0x40, its), new Map(0, 0xffff, 0, its));
        b.Add(2, 1, IortBuilder.RootComplex(0, ats: 1), new Map(0, 0x1ff, 0, smmu));
        b.Add(1, 0, IortBuilder.NamedComponent(@"\_SB.DMA0", 0), Map.Single(7, smmu));
        var text = AcpiTableText.Render(AcpiTable.Load(b.Build(goodChecksum: false), "x"));
        var checksum = b.Build()[9];
        Assert.Equal(
            $"""
            IORT revision 3, 295 bytes, OEM "IOMLAB" "TESTIORT", checksum 0x{(byte)(checksum + 1):x2} BAD (0x{checksum:x2} expected)
            0x0030 ITS group rev 0 len 24: ITS ids [0]
            0x0048 SMMUv3 rev 5 len 108: base 0x9000000, model Generic, flags 0x10, DeviceID mapping index 0
                   map 0: single -> 0x40 on ITS group@0x30 [DeviceID mapping, skipped by ID walks]
                   map 1: 0x0..0xffff -> 0x0 on ITS group@0x30
            0x00b4 root complex rev 1 len 56: segment 0, ATS yes, address limit 48 bits, coherent
                   map 0: 0x0..0x1ff -> 0x0 on SMMUv3@0x48
            0x00ec named component rev 0 len 59: "\_SB.DMA0" address limit 0 bits, flags 0x0, coherent
                   map 0: single -> 0x7 on SMMUv3@0x48
            warning [acpi-bad-checksum] @0x9: checksum 0x{(byte)(checksum + 1):x2} does not make the table sum to zero (0x{checksum:x2} would); Linux warns and uses the table
            info [iort-missing-memory-limit] @0x108: named component \_SB.DMA0 has memory address size limit 0; Linux ignores it when setting DMA limits

            """.Replace("\r\n", "\n"),
            text);
    }

    [Fact]
    public void A_viot_renders_its_endpoints_and_iommus()
    {
        var text = AcpiTableText.Render(AcpiTable.Load(ViotTests.Sample().Bytes, "v"));
        Assert.Contains("0x0030 virtio-iommu PCI len 16: virtio-iommu at 0000:00:01.0\n", text);
        Assert.Contains("0x0050 PCI range len 24: segments 0..1 BDF 0x0010..0x00ff -> endpoints from 0x100 on node 0x30\n", text);
        Assert.Contains("MMIO endpoint len 24: address 0xa003e00 -> endpoint 0x42 on node 0x40\n", text);
    }
}
