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

    [Theory]
    [InlineData("K66")]
    [InlineData("K616")]
    public void A_one_cell_specifier_takes_the_smmu_nodes_stream_match_mask_and_contained_streams_share_a_group(string profile)
    {
        // arm_smmu_of_xlate(): with one cell the SMR mask comes from the SMMU's stream-match-mask (0x7c00 here), so
        // stream 0x0 lies inside {0x400 mask 0x7c00}: arm_smmu_find_sme() shares the entry and with it the group.
        var r = KernelRun.Run("smmu-500-stream-match-mask.dts", profile, "REG(smmu) PROBE(dma_a) PROBE(dma_b)");
        var k = r.Execution.Kernel;
        var a = k.Devices.Single(d => d.Info.Path == "/dma-controller@1000");
        var b = k.Devices.Single(d => d.Info.Path == "/dma-controller@2000");
        Assert.Equal([0x7c00_0400u], a.Iommu!.Fwspec!.Ids);
        Assert.Equal([0x7c00_0000u], b.Iommu!.Fwspec!.Ids);
        Assert.NotNull(a.Group);
        Assert.Same(a.Group, b.Group);
        Assert.DoesNotContain(IommuLab.Model.Exploration.Invariants.CheckAll(k), v => v.Invariant == "I3");
    }

    [Fact]
    public void A_two_cell_specifier_keeps_its_own_mask_over_the_nodes_stream_match_mask()
    {
        var r = KernelRun.Run("smmu-500-stream-match-mask.dts", "K616", "REG(smmu)");
        var smmu = r.Execution.Kernel.Instances.Single();
        Assert.Equal(0x7c00u, smmu.Info.StreamMatchMask);
        var driver = smmu.Driver!;
        Assert.Equal(0x0003_0400u, driver.FwspecId(new FwRef(0, smmu.Info.Path, 0, true, [0x400u, 0x3u])));
        Assert.Equal(0x7c00_0400u, driver.FwspecId(new FwRef(0, smmu.Info.Path, 0, true, [0x400u])));
    }

    [Fact]
    public void With_every_stream_map_entry_in_use_find_sme_fails_with_enospc_and_the_registration_walk_fails()
    {
        // num-smrs models SMMU_IDR0.NUMSMRG, which neither DT nor IORT carries: one entry, two distinct streams. The
        // walk's probe_device() error is not -ENODEV, so from K615 iommu_device_register() fails (I12).
        var r = KernelRun.Run("smmu-500-masked.dts", "K616", "REG(apps_smmu) PROBE(venus) PROBE(etr)", knobs: ["apps_smmu.num-smrs=1"]);
        Assert.True(r.Logged("arm_smmu_find_sme", "stream-map entries in use: -ENOSPC"));
        Assert.Contains("I12", r.Violated(), StringComparison.Ordinal);
        Assert.Equal("W/-", r.ClassAndDma("etr"));
        var plenty = KernelRun.Run("smmu-500-masked.dts", "K616", "REG(apps_smmu) PROBE(venus) PROBE(etr)");
        Assert.False(plenty.Logged("arm_smmu_find_sme", "-ENOSPC"));
        Assert.Equal("T/iommu-dma", plenty.ClassAndDma("etr"));
    }

    [Theory]
    [InlineData("K66")]
    [InlineData("K68")]
    [InlineData("K616")]
    public void An_arm_smmu_refuses_a_stream_id_or_smr_mask_wider_than_its_smr_fields_with_einval(string profile)
    {
        // num-streams is SMMU_IDR0.NUMSIDB for arm-smmu: 2048 stream IDs give 11-bit SMR fields (0x7ff). venus (0xc00)
        // is out of range; etr (0x4a0 mask 0x20) fits. Before K615 the walk skips venus and etr is translated; from
        // K615 the walk's -EINVAL fails the SMMU's registration (I12) and etr waits for it.
        var r = KernelRun.Run("smmu-500-masked.dts", profile, "REG(apps_smmu) PROBE(venus) PROBE(etr)", knobs: ["apps_smmu.num-streams=2048"]);
        Assert.True(r.Logged("arm_smmu_probe_device", "stream ID 0xc00 out of range for SMMU (0x7ff)"));
        Assert.NotEqual("T/iommu-dma", r.ClassAndDma("venus"));
        if (profile == "K616")
        {
            Assert.Contains("I12", r.Violated(), StringComparison.Ordinal);
            Assert.Equal("W/-", r.ClassAndDma("etr"));
        }
        else
        {
            Assert.Equal("T/iommu-dma", r.ClassAndDma("etr"));
        }

        // A node-wide stream-match-mask of 0x7c00 does not fit 14-bit fields (0x3fff), though SID 0x400 does.
        var m = KernelRun.Run("smmu-500-stream-match-mask.dts", profile, "REG(smmu) PROBE(dma_a)", knobs: ["smmu.num-streams=16384"]);
        Assert.True(m.Logged("arm_smmu_probe_device", "SMR mask 0x7c00 out of range for SMMU (0x3fff)"));
        Assert.NotEqual("T/iommu-dma", m.ClassAndDma("dma_a"));

        // Without the knob the fields are 16 bits wide: nothing is refused.
        var wide = KernelRun.Run("smmu-500-stream-match-mask.dts", profile, "REG(smmu) PROBE(dma_a)");
        Assert.False(wide.Logged("arm_smmu_probe_device", "out of range"));
        Assert.Equal("T/iommu-dma", wide.ClassAndDma("dma_a"));
    }
}
