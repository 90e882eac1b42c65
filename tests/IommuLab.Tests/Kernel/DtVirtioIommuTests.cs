using IommuLab.Model.Kernel;

namespace IommuLab.Tests.Kernel;

/// <summary>
/// A DT virtio-iommu that is itself a PCI function (QEMU's <c>virtio,pci-iommu</c> child of the host bridge), with the
/// other functions from --pci merged around it: the instance, its virtio device, the iommu-map hole, pci_device_group()
/// and viommu_probe_endpoint()'s NOENT for a function behind a PCIe-to-PCI bridge.
/// </summary>
public sealed class DtVirtioIommuTests
{
    private const string Fixture = "pcie-viommu.dts";
    private const string Root = "00:01.0; 00:02.0 rciep vendor 8086; 00:03.0 rciep mf vendor 8086; 00:03.1 rciep vendor 8086";
    private const string Bridge = "00:01.0; 00:05.0 root-port -> 02 acs 005f; 02:00.0 pcie-to-pci -> 03 shpc; 03:01.0; 03:02.0";

    [Fact]
    public void The_virtio_pci_function_and_the_iommu_s_virtio_device_are_two_devices()
    {
        var p = KernelRun.Platform(Fixture, pci: [Root]);
        var instance = Assert.Single(p.Instances);
        Assert.Equal(IommuDriverKind.VirtioIommu, instance.Driver);
        var virtio = p.Devices[instance.Device];
        Assert.Equal("virtio-iommu@00:01.0", virtio.Name);
        Assert.Same(virtio, p.Resolve("viommu"));
        Assert.False(virtio.IsPci);
        var function = p.Resolve("pcie:00:01.0")!;
        Assert.Equal("virtio-pci", function.DriverName);
        Assert.Equal(DriverAvailability.BuiltIn, function.DriverAvailability);
        Assert.Contains(p.Notes, n => n.Contains("merged with its 1 child node(s) by bus/devfn", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("K611")]
    [InlineData("K616")]
    public void Functions_get_groups_and_the_iommu_s_own_function_falls_in_the_iommu_map_hole(string profile)
    {
        var r = KernelRun.Run(Fixture, profile, "PROBE(pcie:00:01.0) REG(viommu) PROBE(pcie:00:02.0) PROBE(pcie:00:03.0) PROBE(pcie:00:03.1)", pci: [Root]);
        Assert.Equal("N/direct", r.ClassAndDma("pcie:00:01.0"));
        var groups = new[] { "00:02.0", "00:03.0", "00:03.1" }.Select(b => r.Device($"pcie:{b}").Group).ToList();
        Assert.All(groups, g => Assert.NotNull(g));
        Assert.Equal(3, groups.Distinct().Count());
    }

    [Fact]
    public void Before_probe_at_device_add_only_the_function_behind_the_bridge_loses_its_iommu()
    {
        var r = KernelRun.Run(Fixture, "K611", "PROBE(pcie:00:01.0) REG(viommu) PROBE(pcie:00:05.0) PROBE(pcie:02:00.0) PROBE(pcie:03:01.0) PROBE(pcie:03:02.0)", pci: [Bridge]);
        Assert.True(r.Logged("viommu_probe_endpoint", "PROBE of endpoint 0x308: VIRTIO_IOMMU_S_NOENT"));
        Assert.Equal("T/iommu-dma", r.ClassAndDma("pcie:02:00.0"));
        Assert.Equal("N/direct", r.ClassAndDma("pcie:03:01.0"));
        Assert.Equal("N/direct", r.ClassAndDma("pcie:03:02.0"));
    }

    [Fact]
    public void With_probe_at_device_add_the_noent_aborts_the_registration_walk_yet_the_virtio_driver_stays_bound()
    {
        var r = KernelRun.Run(Fixture, "K616", "PROBE(pcie:00:01.0) PROBE(pcie:00:05.0) PROBE(pcie:02:00.0) REG(viommu) PROBE(pcie:03:01.0) PROBE(pcie:03:02.0) TIMEOUT", pci: [Bridge], sets: ["PciAcsAtDmaConfigure=true"]);
        Assert.True(r.Logged("iommu_device_register", "registration failed with -ENOENT"));
        Assert.Equal(DriverState.Bound, r.Execution.Kernel.Devices.Single(d => d.Name == "viommu").State);
        Assert.All(new[] { "00:05.0", "02:00.0", "03:01.0", "03:02.0" }, b => Assert.Null(r.Device($"pcie:{b}").Group));
        Assert.True(r.Logged("driver_deferred_probe_check_state", "deferred probe timeout, ignoring dependency"));
    }
}
