using System.Collections.Immutable;
using IommuLab.Model.Kernel;

namespace IommuLab.Tests.Kernel;

/// <summary>
/// pci_for_each_dma_alias() (drivers/pci/search.c, spec §2.4) over a PCI bus hierarchy, the --pci device list
/// (docs/pci.md), and of_pci_check_device_ats() (K611+).
/// </summary>
public sealed class PciAliasTests
{
    private const string Bare = "pcie-smmu-bare.dts";

    private static PciTopology Topology(string text)
    {
        var (t, error) = PciTopology.Parse(text);
        return t ?? throw new InvalidOperationException(error);
    }

    private static string Aliases(PciTopology t, string bdf) =>
        string.Join(" ", t.DmaAliases(t.Functions.Single(f => f.Bdf == bdf)).Select(a => PciFunction.Format(a.Rid)));

    [Fact]
    public void Own_rid_first_then_the_alias_mask_in_devfn_order_then_the_bridges_walking_up()
    {
        var t = Topology("00:01.0 root-port -> 01; 01:00.0 switch-port -> 02; 02:04.0 switch-port -> 03; 03:00.0 pcie-to-pci -> 04; 04:02.1 alias 02.3,00.0,02.3");
        Assert.Equal("04:02.1 04:00.0 04:02.3 04:00.0", Aliases(t, "04:02.1"));
        Assert.Equal(["own RID", "dma_alias_mask", "dma_alias_mask", "PCIe-to-PCI bridge 03:00.0: secondary bus, devfn 0"], t.DmaAliases(t.Functions.Single(f => f.Bdf == "04:02.1")).Select(a => a.Source));
    }

    [Fact]
    public void Conventional_and_reverse_bridges_alias_to_their_own_rid_and_every_bridge_on_the_way_adds_one()
    {
        var t = Topology("00:02.0 root-port -> 01; 01:00.0 pci-to-pcie -> 02; 02:00.0 pci-bridge -> 05; 05:03.0");
        Assert.Equal("05:03.0 02:00.0 01:00.0", Aliases(t, "05:03.0"));
    }

    [Fact]
    public void The_walk_stops_before_an_xlate_root_bridge()
    {
        var t = Topology("00:02.0 root-port -> 01; 01:00.0 pci-bridge -> 02 xlate-root; 02:00.0 pci-bridge -> 03; 03:00.0");
        Assert.Equal("03:00.0 02:00.0", Aliases(t, "03:00.0"));
    }

    [Fact]
    public void A_function_on_the_root_bus_has_only_its_own_rid()
    {
        var t = Topology("00:00.0; 00:01.0 bridge -> 01; 01:00.0 bridge -> 02; 02:00.0");
        Assert.Equal("00:00.0", Aliases(t, "00:00.0"));
        Assert.Equal(PciBridgeKind.RootPort, t.Functions.Single(f => f.Bdf == "00:01.0").Bridge);
        Assert.Equal(PciBridgeKind.SwitchPort, t.Functions.Single(f => f.Bdf == "01:00.0").Bridge);
        Assert.Equal("02:00.0", Aliases(t, "02:00.0"));
    }

    [Theory]
    [InlineData("", "no functions listed")]
    [InlineData("0:1", "is not bb:dd.f")]
    [InlineData("00:20.0", "is not bb:dd.f")]
    [InlineData("00:01.0 root-port", "needs '-> SECONDARY'")]
    [InlineData("00:01.0 -> 01", "only for bridges")]
    [InlineData("00:01.0 root-port -> 00", "must differ")]
    [InlineData("00:01.0; 00:01.0", "listed twice")]
    [InlineData("00:01.0 root-port -> 01; 00:02.0 root-port -> 01", "more than one bridge")]
    [InlineData("01:00.0 pci-bridge -> 02; 02:00.0 pci-bridge -> 01", "loop")]
    [InlineData("00:01.0 alias 1:0", "alias '1:0'")]
    [InlineData("00:01.0 sideways", "unknown word 'sideways'")]
    [InlineData("00:01.0 xlate-root", "bridge flag")]
    public void Bad_pci_lists_are_rejected_with_a_reason(string text, string message)
    {
        var (t, error) = PciTopology.Parse(text);
        Assert.Null(t);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    /// <summary>The brief's example list, with a comment and new lines, on a host bridge with no child nodes.</summary>
    [Fact]
    public void Pci_list_describes_the_functions_of_a_host_bridge_without_child_nodes()
    {
        var p = KernelRun.Platform(Bare, pci: ["pcie=00:01.0 bridge pcie-to-pci -> 01 # a bridge\n01:00.0; 01:00.1 label nic"]);
        Assert.Contains(p.Notes, n => n == "/soc/pcie@40000000: PCI functions from --pci (3 function(s))");
        Assert.Contains(p.Notes, n => n.StartsWith("/soc/pcie@50000000: no child nodes and no --pci list", StringComparison.Ordinal));
        var nic = p.Resolve("nic")!;
        Assert.Same(nic, p.Resolve("pcie:01:00.1"));
        Assert.Equal([0x101u, 0x100u], nic.PciDmaAliases.Select(a => a.Rid));
        Assert.Equal(DriverAvailability.Absent, p.Resolve("pcie:00:01.0")!.DriverAvailability);
    }

    [Theory]
    [InlineData("00:01.0", "several host bridges have iommu-map")]
    [InlineData("nowhere=00:01.0", "'nowhere' is not a PCI host bridge")]
    [InlineData("pcie=00:01.0 root-port", "needs '-> SECONDARY'")]
    public void A_pci_list_that_names_no_single_host_bridge_is_an_error(string list, string message)
    {
        var tree = IommuLab.Firmware.DeviceTree.DeviceTreeLoader.LoadFile(KernelRun.FixturePath(Bare));
        var (platform, error) = DtPlatformBuilder.Build(tree, new PlatformKnobs(), [], [list]);
        Assert.Null(platform);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    /// <summary>Enumeration finds the listed functions; each DT child node goes to the function at its bus/devfn.</summary>
    [Fact]
    public void A_pci_list_is_merged_with_the_device_tree_children_by_bus_and_devfn()
    {
        var p = KernelRun.Platform("pcie-iommu-map.dts", pci: ["00:07.0; 01:00.0 vendor 8086"]);
        Assert.Contains(p.Notes, n => n.Contains("merged with its 5 child node(s) by bus/devfn; 4 child node(s) not in the list added", StringComparison.Ordinal));
        Assert.NotNull(p.Resolve("pcie0:00:07.0"));
        var wifi = p.Resolve("wifi");
        Assert.NotNull(wifi);
        Assert.Equal((ushort)0x8086, wifi.Pci!.Vendor);
        Assert.NotNull(p.Resolve("nic"));
    }

    /// <summary>
    /// Behind a PCIe-to-PCI bridge, the SMMUv3 fwspec holds every alias in walk order (own RID, alias mask, bridge
    /// alias); K611+ also copy the host bridge's ats-supported into the fwspec flags.
    /// </summary>
    [Theory]
    [InlineData("K68", false)]
    [InlineData("K611", true)]
    [InlineData("K616", true)]
    public void Every_alias_reaches_the_fwspec_in_walk_order_and_ats_supported_is_copied_from_k611(string profile, bool ats)
    {
        var r = KernelRun.Run(Bare, profile, "REG(smmu) PROBE(nic)", pci: ["pcie=00:01.0 root-port -> 01; 01:00.0 pcie-to-pci -> 02; 02:03.1 alias 03.0 label nic"]);
        Assert.Equal("T/iommu-dma", r.ClassAndDma("nic"));
        Assert.Equal(["/soc/iommu@2b400000:537", "/soc/iommu@2b400000:536", "/soc/iommu@2b400000:512"], r.Device("nic").Configured.Select(c => c.ToString()));
        Assert.Equal(ats, r.Device("nic").Fwspec.Contains("PCI_RC_ATS", StringComparison.Ordinal));
        Assert.Equal(["02:03.1 (own RID)", "02:03.0 (dma_alias_mask)", "02:00.0 (PCIe-to-PCI bridge 01:00.0: secondary bus, devfn 0)"], r.Device("nic").DmaAliases.Select(a => a.ToString()));
    }

    /// <summary>An of_map_id() error on an alias (id-base outside iommu-map-mask: -EFAULT) stops the walk with that error.</summary>
    [Theory]
    [InlineData("K68")]
    [InlineData("K616")]
    public void An_of_map_id_error_ends_the_alias_walk_with_that_error(string profile)
    {
        var r = KernelRun.Run(Bare, profile, "REG(smmu) PROBE(pcie_bad:00:00.1)");
        Assert.True(r.Logged("of_map_id", "-EFAULT ends pci_for_each_dma_alias"));
        Assert.True(r.Logged("of_dma_configure_id", "iommu configuration for device failed with -EFAULT"));
        Assert.Equal("N/direct", r.ClassAndDma("pcie_bad:00:00.1"));
    }
}
