using IommuLab.Model.Kernel;

namespace IommuLab.Tests.Kernel;

/// <summary>
/// pci_device_group() (drivers/iommu/iommu.c) with ACS (drivers/pci/pci.c), on the bare SMMUv3 host bridge with a
/// --pci list, and the ACS enabling moment (pci_request_acs() from of_iommu_configure(); c41e2fb67e26).
/// </summary>
public sealed class PciDeviceGroupTests
{
    private const string Bare = "pcie-smmu-bare.dts";

    private static string P(string bdf) => $"pcie:{bdf}";

    /// <summary>The partition of the given functions into groups, as "a b | c" (functions in list order, groups by first member).</summary>
    private static string Groups(RunResult r, params string[] bdfs)
    {
        var byGroup = bdfs.Select(b => (Bdf: b, Group: r.Device(P(b)).Group)).Where(x => x.Group is not null).GroupBy(x => x.Group).Select(g => string.Join(" ", g.Select(x => x.Bdf)));
        return string.Join(" | ", byGroup);
    }

    private static ushort? Acs(RunResult r, string bdf)
    {
        var k = r.Execution.Kernel;
        return k.PciAcsControl(k.Devices.Single(d => d.Info.Labels.Contains(P(bdf))));
    }

    private static RunResult Run(string profile, string pci, string probes, params string[] sets) =>
        KernelRun.Run(Bare, profile, $"REG(smmu) {string.Join(" ", probes.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(b => $"PROBE({P(b)})"))}", sets: sets, pci: [$"pcie={pci}"]);

    private const string PortAndEndpoint = "00:04.0 root-port -> 01 acs 005f; 01:00.0 endpoint";

    [Fact]
    public void Without_acs_enabled_an_endpoint_below_a_root_port_joins_the_port_group()
    {
        var r = Run("K611", PortAndEndpoint, "00:04.0 01:00.0");
        Assert.Equal("00:04.0 01:00.0", Groups(r, "00:04.0", "01:00.0"));
        Assert.Equal((ushort)0, Acs(r, "00:04.0"));
    }

    [Fact]
    public void With_acs_enabled_at_dma_configure_the_endpoint_gets_its_own_group()
    {
        var r = Run("K616", PortAndEndpoint, "00:04.0 01:00.0", "PciAcsAtDmaConfigure=true");
        Assert.Equal("00:04.0 | 01:00.0", Groups(r, "00:04.0", "01:00.0"));
        Assert.Equal((ushort)0x1d, Acs(r, "00:04.0"));
        Assert.True(r.Logged("pci_enable_acs", "ACS control 0x0000 -> 0x001d"));
    }

    [Fact]
    public void A_port_without_an_acs_capability_never_isolates_even_when_acs_is_requested()
    {
        var r = Run("K616", "00:04.0 root-port -> 01; 01:00.0 endpoint", "00:04.0 01:00.0", "PciAcsAtDmaConfigure=true");
        Assert.Equal("00:04.0 01:00.0", Groups(r, "00:04.0", "01:00.0"));
    }

    [Fact]
    public void Acs_already_enabled_by_firmware_isolates_on_every_profile()
    {
        var r = Run("K611", "00:04.0 root-port -> 01 acs 005f/001d; 01:00.0 endpoint", "00:04.0 01:00.0");
        Assert.Equal("00:04.0 | 01:00.0", Groups(r, "00:04.0", "01:00.0"));
    }

    [Fact]
    public void Functions_of_a_multi_function_endpoint_without_acs_share_a_group_below_an_isolating_port()
    {
        var r = Run("K611", "00:04.0 root-port -> 01 acs 005f/001d; 01:00.0 endpoint mf; 01:00.1 endpoint", "00:04.0 01:00.0 01:00.1");
        Assert.Equal("00:04.0 | 01:00.0 01:00.1", Groups(r, "00:04.0", "01:00.0", "01:00.1"));
    }

    [Fact]
    public void Functions_of_different_slots_do_not_share_a_group()
    {
        var r = Run("K611", "00:04.0 root-port -> 01 acs 005f/001d; 01:00.0 endpoint mf; 01:01.0 endpoint", "00:04.0 01:00.0 01:01.0");
        Assert.Equal("00:04.0 | 01:00.0 | 01:01.0", Groups(r, "00:04.0", "01:00.0", "01:01.0"));
    }

    [Theory]
    [InlineData("8086", "00:03.0 | 00:03.1")]
    [InlineData("1af4", "00:03.0 00:03.1")]
    public void Intel_root_complex_integrated_endpoints_count_as_isolated_by_quirk_others_share(string vendor, string expected)
    {
        var r = Run("K611", $"00:03.0 rciep mf vendor {vendor}; 00:03.1 rciep vendor {vendor}", "00:03.0 00:03.1");
        Assert.Equal(expected, Groups(r, "00:03.0", "00:03.1"));
    }

    [Fact]
    public void Conventional_functions_behind_a_pcie_to_pci_bridge_join_the_bridge_group_through_its_alias()
    {
        var pci = "00:05.0 root-port -> 02 acs 005f/001d; 02:00.0 pcie-to-pci -> 03 shpc; 03:01.0; 03:02.0";
        var r = Run("K611", pci, "00:05.0 02:00.0 03:01.0 03:02.0");
        Assert.Equal("00:05.0 | 02:00.0 03:01.0", Groups(r, "00:05.0", "02:00.0", "03:01.0", "03:02.0"));
        Assert.Equal(DeviceClass.T, r.Device(P("02:00.0")).Class);
        Assert.True(r.Logged("arm_smmu_insert_master", "stream 768 already in tree from dev"));
    }

    [Fact]
    public void From_v6_15_an_aliased_stream_id_is_skipped_with_a_warning_and_registration_goes_on()
    {
        var pci = "00:05.0 root-port -> 02 acs 005f/001d; 02:00.0 pcie-to-pci -> 03; 03:01.0; 03:02.0";
        var r = KernelRun.Run(Bare, "K616", "REG(smmu)", pci: [$"pcie={pci}"]);
        Assert.True(r.Logged("arm_smmu_insert_master", "Aliasing StreamID 0x300 (from pcie:03:01.0) unsupported"));
        Assert.Equal("00:05.0 | 02:00.0 03:01.0", Groups(r, "00:05.0", "02:00.0", "03:01.0", "03:02.0"));
        Assert.Null(r.Device(P("03:02.0")).Group);
    }

    [Fact]
    public void Before_v6_15_the_aliased_stream_id_fails_the_bus_walk_and_the_registration()
    {
        var pci = "00:05.0 root-port -> 02; 02:00.0 pcie-to-pci -> 03; 03:01.0; 03:02.0";
        var r = KernelRun.Run(Bare, "K616", "REG(smmu)", sets: ["SmmuAliasedStreamNoDev=false"], pci: [$"pcie={pci}"]);
        Assert.True(r.Logged("iommu_device_register", "registration failed"));
        Assert.Equal("", Groups(r, "00:05.0", "02:00.0", "03:01.0", "03:02.0"));
    }

    /// <summary>
    /// get_pci_alias_group() would put the two in one group, but on an SMMUv3 the quirk alias is the other function's
    /// StreamID, so arm_smmu_insert_master() refuses the second before device_group runs.
    /// </summary>
    [Fact]
    public void A_dma_alias_quirk_on_an_smmuv3_leaves_the_later_function_without_an_iommu()
    {
        var r = Run("K611", "00:04.0 root-port -> 01 acs 005f/001d; 01:00.0 endpoint; 01:01.0 endpoint alias 00.0", "00:04.0 01:01.0 01:00.0");
        Assert.Equal("00:04.0 | 01:01.0", Groups(r, "00:04.0", "01:00.0", "01:01.0"));
        Assert.True(r.Logged("arm_smmu_insert_master", "stream 256 already in tree from dev pcie:01:01.0"));
    }

    [Fact]
    public void Group_membership_depends_on_probe_order_as_in_the_kernel()
    {
        // The endpoint probes before its port: no group to join yet, so the port later gets one of its own.
        var r = Run("K611", PortAndEndpoint, "01:00.0 00:04.0");
        Assert.Equal("00:04.0 | 01:00.0", Groups(r, "00:04.0", "01:00.0"));
    }

    [Theory]
    [InlineData("00:00.0 rciep mf vendor 8086 acs 5f/1d; 00:00.1 shpc", "shpc is a bridge capability")]
    [InlineData("00:04.0 root-port -> 01 endpoint", "endpoint, legacy-endpoint, rciep and conventional are for functions that are not bridges")]
    [InlineData("00:00.0 acs zz", "'acs' needs CAP or CAP/CTRL")]
    [InlineData("00:00.0 vendor", "'vendor' needs a hex vendor ID")]
    public void Bad_pci_words_are_rejected_with_the_reason(string pci, string reason)
    {
        var (t, error) = PciTopology.Parse(pci);
        Assert.Null(t);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }
}
