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
}
