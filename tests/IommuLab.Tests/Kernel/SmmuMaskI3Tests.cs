using IommuLab.Model.Kernel;

namespace IommuLab.Tests.Kernel;

/// <summary>I3 compares a fwspec with what of_xlate stores per reference (docs/findings.md C1).</summary>
public sealed class SmmuMaskI3Tests
{
    [Theory]
    [InlineData("K66")]
    [InlineData("K68")]
    [InlineData("K616")]
    public void Masked_mmu_500_consumers_programmed_as_configured_break_no_invariant(string profile)
    {
        var r = KernelRun.Run("smmu-500-masked.dts", profile, "REG(apps_smmu) PROBE(venus) PROBE(etr) PROBE(rproc) PROBE(sdhc)");
        Assert.Equal("", r.Violated());
        Assert.All(new[] { "venus", "etr", "rproc", "sdhc" }, d => Assert.False(r.DmaViolated(d)));
    }

    [Fact]
    public void A_fwspec_id_that_differs_from_the_firmware_still_breaks_i3()
    {
        // The check must keep failing for a real mismatch: the MMU-500's second cell dropped from the fwspec.
        var r = KernelRun.Run("smmu-500-masked.dts", "K616", "REG(apps_smmu) PROBE(etr)");
        var etr = r.Execution.Kernel.Devices.Single(d => d.Info.Path == "/etr@6048000");
        etr.Iommu!.Fwspec!.Ids[0] &= 0xffff;
        Assert.Contains(IommuLab.Model.Exploration.Invariants.CheckAll(r.Execution.Kernel), v => v.Invariant == "I3" && v.Device == "/etr@6048000");
    }
}
