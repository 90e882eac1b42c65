using IommuLab.Model.Kernel;

namespace IommuLab.Tests.Kernel;

/// <summary>PCI functions behind a host bridge's iommu-map (spec §2.2 PCI path, §2.4), on pcie-iommu-map.dts.</summary>
public sealed class PciTests
{
    private const string Fixture = "pcie-iommu-map.dts";

    [Fact]
    public void Pci_functions_come_from_the_host_bridge_children_with_rids_from_reg()
    {
        var p = KernelRun.Platform(Fixture);
        Assert.Contains(p.Notes, n => n.Contains("PCI functions from its 5 child node(s)", StringComparison.Ordinal));
        var pci = p.Devices.Where(d => d.IsPci).ToDictionary(d => d.Labels[0], d => d.Rid);
        Assert.Equal(new Dictionary<string, uint?> { ["port00"] = 0x0, ["wifi"] = 0x100, ["port01"] = 0x8, ["pcibridge"] = 0x200, ["nic"] = 0x308 }, pci);
        var nic = p.Resolve("nic")!;
        Assert.Equal(["/soc/iommu@682008000:1", "/soc/iommu@681008000:1"], nic.Iommus.Refs.Select(r => $"{r.TargetPath}:{r.Args[0]}"));
        Assert.Equal(["03:01.0 (own RID)", "03:00.0 (PCIe-to-PCI bridge 02:00.0: secondary bus, devfn 0)"], nic.Iommus.Refs.Select(r => r.PciAlias.ToString()));
        Assert.Same(nic, p.Resolve("pcie0:03:01.0"));
        Assert.Equal(PciBridgeKind.PcieToPci, p.Resolve("pcibridge")!.Pci!.Bridge);
        Assert.Equal(PciBridgeKind.RootPort, p.Resolve("port01")!.Pci!.Bridge);
    }

    [Theory]
    [InlineData("K66")]
    [InlineData("K68")]
    [InlineData("K611")]
    [InlineData("K616")]
    public void Root_ports_get_no_translation_and_endpoints_map_through_their_bus_dart(string profile)
    {
        var r = KernelRun.Run(Fixture, profile, "REG(pcie_dart_0) REG(pcie_dart_1) PROBE(port00) PROBE(wifi)");
        Assert.Equal("N/direct", r.ClassAndDma("port00"));
        Assert.Empty(r.Device("port00").Firmware);
        Assert.Equal("T/iommu-dma", r.ClassAndDma("wifi"));
        Assert.Equal(["/soc/iommu@681008000:1"], r.Device("wifi").GroupCoverage.Select(s => s.ToString()));
    }

    /// <summary>
    /// A DMA alias shared with another function (spec §6.4, §6.5): nic's PCIe-to-PCI bridge alias is wifi's stream, so
    /// the second function finds the first one's group
    /// through sid2group and attaching it to that group's paging domain fails in apple_dart_mod_streams (slot 0 is
    /// another DART). On replay (≤ K611, JGG2) it binds without IOMMU, so whichever probes first wins (order
    /// dependence, I5); from K615 the walks parse both, so the failure aborts pcie_dart_1's walk: a registration
    /// failure (I12) whatever the probe order.
    /// </summary>
    [Theory]
    [InlineData("K66", false)]
    [InlineData("K611", false)]
    [InlineData("JGG2+F1+AD", false)]
    [InlineData("K615", true)]
    [InlineData("K616", true)]
    public void A_shared_dma_alias_gives_the_iommu_to_whichever_function_probes_first(string profile, bool walkFails)
    {
        var wifiFirst = KernelRun.Run(Fixture, profile, "REG(pcie_dart_0) REG(pcie_dart_1) PROBE(wifi) PROBE(nic)");
        var nicFirst = KernelRun.Run(Fixture, profile, "REG(pcie_dart_0) REG(pcie_dart_1) PROBE(nic) PROBE(wifi)");
        Assert.True(wifiFirst.Logged("apple_dart_mod_streams", "slot 0: domain has pcie_dart_0, device has pcie_dart_1: -EINVAL"));
        Assert.Equal("T/iommu-dma", wifiFirst.ClassAndDma("wifi"));
        if (walkFails)
        {
            foreach (var r in new[] { wifiFirst, nicFirst })
            {
                Assert.Equal("W/-", r.ClassAndDma("nic"));
                Assert.Equal("I12", r.Violated());
                Assert.True(r.Logged("probe_iommu_group", "-EINVAL aborts the bus walk"));
            }
        }
        else
        {
            Assert.Equal("N/direct", wifiFirst.ClassAndDma("nic"));
            Assert.Equal("T/iommu-dma", nicFirst.ClassAndDma("nic"));
            Assert.Equal("N/direct", nicFirst.ClassAndDma("wifi"));
            Assert.Equal(["/soc/iommu@681008000:1", "/soc/iommu@682008000:1"], nicFirst.Device("nic").GroupCoverage.Select(c => c.ToString()));
        }
    }
}
