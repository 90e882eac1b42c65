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

    /// <summary>K615+: the registration walk parses every device, so the clash fails the walk and the SMMU (I12).</summary>
    [Theory]
    [InlineData("K615")]
    [InlineData("K616")]
    public void Smmu_v3_sid_clash_during_the_walk_fails_the_registration_from_k615(string profile)
    {
        var r = KernelRun.Run("smmu-v3.dts", profile, Schedule);
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
