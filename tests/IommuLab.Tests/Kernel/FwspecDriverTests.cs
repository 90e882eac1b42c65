using IommuLab.Firmware.DeviceTree;
using IommuLab.Model.Kernel;

namespace IommuLab.Tests.Kernel;

/// <summary>The fwspec-driver family (spec §6.10), on smmu-v3.dts.</summary>
public sealed class FwspecDriverTests
{
    private const string Schedule = "REG(smmu) PROBE(dma0) PROBE(dup) PROBE(clash)";

    [Theory]
    [InlineData("K66")]
    [InlineData("K68")]
    [InlineData("K611")]
    [InlineData("JGG2")]
    public void Smmu_v3_keeps_ids_in_the_fwspec_in_firmware_order_and_rejects_a_sid_owned_by_another_master(string profile)
    {
        var r = KernelRun.Run("smmu-v3.dts", profile, Schedule);
        Assert.Equal("T/iommu-dma", r.ClassAndDma("dma0"));
        Assert.Equal("fwspec{smmu ids 16,17}", r.Device("dma0").Fwspec);
        Assert.Equal("T/iommu-dma", r.ClassAndDma("dup"));
        Assert.Equal("N/direct", r.ClassAndDma("clash"));
        Assert.True(r.Logged("arm_smmu_insert_master", "stream 16 already in tree from dev dma0"));
        Assert.Equal("", r.Violated());
    }

    /// <summary>
    /// K615+: the registration walk parses every device. v6.15's arm_smmu_insert_master() (2d00c34d665b) answers the
    /// clash with a warning and -ENODEV, which the walk skips: only the clashing master loses its IOMMU.
    /// </summary>
    [Theory]
    [InlineData("K615")]
    [InlineData("K616")]
    public void Smmu_v3_sid_clash_during_the_walk_only_costs_the_clashing_master_its_iommu_from_k615(string profile)
    {
        var r = KernelRun.Run("smmu-v3.dts", profile, Schedule);
        Assert.True(r.Logged("arm_smmu_insert_master", "Aliasing StreamID 0x10 (from dma0) unsupported, expect DMA to be broken"));
        Assert.Equal("T/iommu-dma", r.ClassAndDma("dma0"));
        Assert.Equal("T/iommu-dma", r.ClassAndDma("dup"));
        Assert.Equal("N/direct", r.ClassAndDma("clash"));
        Assert.Equal("", r.Violated());
    }

    /// <summary>With the -EINVAL of v6.14 and earlier, the same clash during the walk fails the registration (I12).</summary>
    [Fact]
    public void Smmu_v3_sid_clash_with_einval_during_the_walk_fails_the_registration()
    {
        var r = KernelRun.Run("smmu-v3.dts", "K616", Schedule, sets: ["SmmuAliasedStreamNoDev=false"]);
        Assert.Equal("I12", r.Violated());
        Assert.All(r.Devices, d => Assert.Equal(DeviceClass.W, d.Class));
    }

    [Fact]
    public void Smmu_v3_out_of_range_sid_is_erange()
    {
        var r = KernelRun.Run("smmu-v3.dts", "K611", "REG(smmu) PROBE(dma0)", knobs: ["smmu.num-streams=16"]);
        Assert.True(r.Logged("arm_smmu_init_sid_strtab", "out of range: -ERANGE"));
        Assert.Equal("N/direct", r.ClassAndDma("dma0"));
    }

    [Fact]
    public void Smmu_v3_stream_table_covers_every_stream_id_the_tree_routes_unless_a_knob_says_otherwise()
    {
        // The DT carries no SMMU_IDR1.SIDSIZE: sized like IORT, at least 16 bits, to the highest routed ID.
        var dts = """
            /dts-v1/;
            / { #address-cells = <2>; #size-cells = <2>;
                smmu: iommu@1000 { compatible = "arm,smmu-v3"; reg = <0 0x1000 0 0x100>; #iommu-cells = <1>; };
                dma@2000 { compatible = "vendor,dma"; reg = <0 0x2000 0 0x100>; iommus = <&smmu 0x50000>; };
                pcie@3000 { compatible = "pci-host-ecam-generic"; device_type = "pci"; reg = <0 0x3000 0 0x1000>;
                    #address-cells = <3>; #size-cells = <2>; iommu-map = <0x0 &smmu 0x60000 0x10000>; };
            };
            """;
        Platform Build(params string[] knobs) => DtPlatformBuilder.Build(
            DeviceTreeLoader.Load(System.Text.Encoding.UTF8.GetBytes(dts), "routed.dts"), new PlatformKnobs(), knobs).Platform!;
        Assert.Equal(1 << 19, Assert.Single(Build().Instances).NumStreams);
        Assert.Equal(1 << 16, Assert.Single(Build("smmu.num-streams=65536").Instances).NumStreams);
    }

    [Theory]
    [InlineData("smmu.num-streams=abc", "num-streams must be a number of stream IDs from 1 to 16777216, found 'abc'")]
    [InlineData("smmu.num-streams=99999999999", "found '99999999999'")]
    [InlineData("smmu.num-streams=0", "found '0'")]
    [InlineData("smmu.pgsize=5000", "pgsize must be a page size in bytes (a power of two) from 4096 to 1048576, found '5000'")]
    [InlineData("smmu.ias=-1", "ias must be an input address size in bits from 12 to 64, found '-1'")]
    [InlineData("smmu.locked-sid=0xzz", "locked-sid must be a stream ID from 0 to 16777215, found '0xzz'")]
    [InlineData("smmu.num-smrs=129", "num-smrs must be a number of stream-map entries from 1 to 128, found '129'")]
    public void A_hardware_knob_that_is_not_a_number_in_range_is_an_error_naming_the_node_and_the_value(string knob, string message)
    {
        var tree = DeviceTreeLoader.LoadFile(KernelRun.FixturePath("smmu-v3.dts"));
        var (platform, error) = DtPlatformBuilder.Build(tree, new PlatformKnobs(), [knob]);
        Assert.Null(platform);
        Assert.Contains(message, error, StringComparison.Ordinal);
        Assert.StartsWith("/", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("K66", true)]
    [InlineData("K67", true)]
    [InlineData("JGG2", true)]
    [InlineData("K68", false)]
    [InlineData("K616", false)]
    public void Before_v68_a_second_iommu_driver_is_refused_with_ebusy_and_its_consumers_lose_it(string profile, bool refused)
    {
        // v6.2-v6.7 iommu_device_register(): one IOMMU driver per system; "iommu: Retire bus ops" (v6.8) lifts it.
        var r = KernelRun.Run("two-drivers.dts", profile, "REG(smmu) REG(vop_mmu) PROBE(dma) PROBE(vop)");
        var i12 = r.Violations.Where(v => v.Invariant == "I12").ToList();
        if (refused)
        {
            var v = Assert.Single(i12);
            Assert.Equal("/iommu@fdd97e00", v.Device);
            Assert.Contains("-EBUSY", v.Message, StringComparison.Ordinal);
            Assert.NotEqual("T", r.ClassAndDma("vop").Split('/')[0]);
        }
        else
        {
            Assert.Empty(i12);
            Assert.Equal("T", r.ClassAndDma("vop").Split('/')[0]);
        }

        Assert.Equal("T", r.ClassAndDma("dma").Split('/')[0]);
    }
}
