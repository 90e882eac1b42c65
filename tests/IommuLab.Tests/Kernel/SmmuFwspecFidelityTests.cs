using IommuLab.Model.Drivers;
using IommuLab.Model.Kernel;

namespace IommuLab.Tests.Kernel;

/// <summary>
/// Two fidelity points of the SMMU drivers (docs/findings.md, "C"): arm-smmu's fwspec IDs carry the SMR mask, and in
/// v6.6/v6.7 the SMMU and virtio drivers refuse a placeholder fwspec, so a registration walk does not group a device
/// whose of_xlate never ran.
/// </summary>
public sealed class SmmuFwspecFidelityTests
{
    [Theory]
    [InlineData("K66")]
    [InlineData("K68")]
    [InlineData("K616")]
    public void Arm_smmu_packs_the_smr_mask_cell_into_the_fwspec_id_and_programs_the_stream_of_its_id_field(string profile)
    {
        var r = KernelRun.Run("smmu-500-masked.dts", profile, "REG(apps_smmu) PROBE(venus) PROBE(etr) PROBE(rproc) PROBE(sdhc)");

        // 0xc00 | 0x60 << 16, 0x4a0 | 0x20 << 16, 0x461 and 0x444 | 0x3 << 16, 0x80.
        Assert.Equal("fwspec{apps_smmu ids 6294528}", r.Device("venus").Fwspec);
        Assert.Equal("fwspec{apps_smmu ids 2098336}", r.Device("etr").Fwspec);
        Assert.Equal("fwspec{apps_smmu ids 1121,197700}", r.Device("rproc").Fwspec);
        Assert.Equal("fwspec{apps_smmu ids 128}", r.Device("sdhc").Fwspec);
        Assert.Equal([0xc00u], r.Device("venus").Configured.Select(c => c.Id));
        Assert.Equal([0x461u, 0x444u], r.Device("rproc").Configured.Select(c => c.Id));
        var streams = r.InstanceStreams.Single().Streams;
        Assert.All(new[] { 0xc00, 0x4a0, 0x461, 0x444, 0x80 }, sid => Assert.Equal(StreamMode.Translate, streams.Single(s => s.Sid == sid).Mode));
        Assert.All(new[] { "venus", "etr", "rproc", "sdhc" }, d => Assert.Equal("T/iommu-dma", r.ClassAndDma(d)));

        // The driver's answer for "which fwspec ID does this reference make" is what of_xlate stored.
        var k = r.Execution.Kernel;
        foreach (var d in k.Devices.Where(d => d.Info.IsConsumer))
        {
            var driver = d.Iommu!.IommuDev!.Driver!;
            Assert.Equal(d.Info.Iommus.Refs.Select(driver.FwspecId), d.Iommu.Fwspec!.Ids);
        }
    }

    [Fact]
    public void Arm_smmu_cuts_each_cell_to_its_sixteen_bit_smr_field_as_field_prep_does()
    {
        var r = KernelRun.Run("smmu-500-masked.dts", "K616", "REG(apps_smmu)");
        var driver = r.Execution.Kernel.Instances.Single().Driver!;
        var wide = new FwRef(0, "/iommu@15000000", 0, true, [0x1_04a0u, 0x3_0020u]);
        Assert.Equal(0x0020_04a0u, driver.FwspecId(wide));
        Assert.Equal(0x80u, driver.FwspecId(new FwRef(0, "/iommu@15000000", 0, true, [0x80u])));
    }

    /// <summary>
    /// v6.6: dma0 defers before the SMMU registers and keeps an ops==NULL placeholder fwspec. The registration walk
    /// calls arm_smmu_probe_device() through the bus ops; its ownership check returns -ENODEV and
    /// iommu_init_device() frees dev->iommu, so the deferred retry parses afresh and the replay groups dma0 with
    /// both stream IDs.
    /// </summary>
    [Theory]
    [InlineData("K66")]
    [InlineData("K67")]
    public void A_placeholder_fwspec_is_not_probed_by_the_v66_registration_walk_and_the_retry_programs_every_stream(string profile)
    {
        var r = KernelRun.Run("smmu-v3.dts", profile, "PROBE(dma0) REG(smmu)");
        Assert.True(r.Logged("arm_smmu_probe_device", "fwspec->ops is NULL (placeholder from an earlier deferral): not ours, -ENODEV"));
        Assert.Equal("fwspec{smmu ids 16,17}", r.Device("dma0").Fwspec);
        Assert.Equal("T/iommu-dma", r.ClassAndDma("dma0"));
        Assert.Equal(["/soc/iommu@2b400000:16", "/soc/iommu@2b400000:17"], r.Device("dma0").GroupCoverage.Select(s => s.ToString()));
        Assert.Equal("", r.Violated());
        Assert.False(r.DmaViolated("dma0"));
    }

    /// <summary>Without the ownership check (v6.8 removed it with bus ops) the same order leaves a master with no streams.</summary>
    [Fact]
    public void Without_the_ownership_check_the_walk_groups_the_placeholder_with_no_streams()
    {
        var r = KernelRun.Run("smmu-v3.dts", "K66", "PROBE(dma0) REG(smmu)", sets: ["FwspecDriverChecksOps=false"]);
        Assert.Empty(r.Device("dma0").GroupCoverage);
        Assert.Equal("I3", r.Violated());
        Assert.True(r.DmaViolated("dma0"));
    }

    [Fact]
    public void Arm_smmu_v2_refuses_the_placeholder_in_v66_too()
    {
        var r = KernelRun.Run("smmu-500-masked.dts", "K66", "PROBE(sdhc) REG(apps_smmu)");
        Assert.True(r.Logged("arm_smmu_probe_device", "fwspec->ops is NULL (placeholder from an earlier deferral): not ours, -ENODEV"));
        Assert.Equal(["/iommu@15000000:128"], r.Device("sdhc").GroupCoverage.Select(s => s.ToString()));
        Assert.Equal("T/iommu-dma", r.ClassAndDma("sdhc"));
    }

    [Theory]
    [InlineData("K66", true)]
    [InlineData("K67", true)]
    [InlineData("K68", false)]
    [InlineData("K611", false)]
    [InlineData("K616", false)]
    [InlineData("JGG2", false)]
    public void The_drivers_ownership_check_is_on_in_v66_and_v67_only(string profile, bool on) =>
        Assert.Equal(on, Profiles.Find(profile)!.Switches.FwspecDriverChecksOps);
}

/// <summary>arm-smmu stream-map entries: arm_smmu_find_sme() containment and overlap (fixture smmu-500-smr.dts).</summary>
public sealed class SmmuStreamMapTests
{
    [Fact]
    public void A_master_whose_smr_lies_inside_another_masters_entry_shares_that_entry_and_its_group()
    {
        var r = KernelRun.Run("smmu-500-smr.dts", "K68", "REG(smmu) PROBE(bam) PROBE(crypto)");
        Assert.Equal("T/iommu-dma", r.ClassAndDma("bam"));
        Assert.Equal("T/iommu-dma", r.ClassAndDma("crypto"));
        Assert.Equal(r.Device("bam").Group, r.Device("crypto").Group);
        var st = (FwspecInstanceState)r.Execution.Kernel.Instances.Single().DriverData!;
        Assert.Equal([(0x584, 0x11, 1), (0x586, 0x11, 2)], st.StreamMap.Select(e => ((int)e.Id, (int)e.Mask, e.Count)));
    }

    [Fact]
    public void Two_entries_of_one_master_that_match_a_common_stream_fail_probe_device_with_einval()
    {
        var r = KernelRun.Run("smmu-500-smr.dts", "K68", "REG(smmu) PROBE(cb12)");
        Assert.True(r.Logged("arm_smmu_find_sme", "SMR {0xc0c mask 0x40} partly overlaps stream-map entry 0 {0xc2c mask 0x20} of cb12: -EINVAL"));
        Assert.Null(r.Device("cb12").Group);
        Assert.Equal("N/direct", r.ClassAndDma("cb12"));

        // The failed call gave back the entry it had claimed for its first ID.
        var st = (FwspecInstanceState)r.Execution.Kernel.Instances.Single().DriverData!;
        Assert.All(st.StreamMap, e => Assert.Equal(0, e.Count));
    }

    [Theory]
    [InlineData("REG(smmu) PROBE(cb14) PROBE(cb13)", true)]
    [InlineData("REG(smmu) PROBE(cb13) PROBE(cb14)", false)]
    public void A_plain_stream_inside_a_masked_entry_shares_it_only_when_the_masked_master_probes_first(string schedule, bool shared)
    {
        var r = KernelRun.Run("smmu-500-smr.dts", "K68", schedule);
        Assert.Equal("T/iommu-dma", r.ClassAndDma("cb13"));
        if (shared)
        {
            Assert.Equal(r.Device("cb14").Group, r.Device("cb13").Group);
            Assert.Equal("T/iommu-dma", r.ClassAndDma("cb14"));
        }
        else
        {
            Assert.True(r.Logged("arm_smmu_find_sme", "SMR {0xc0e mask 0x20} partly overlaps stream-map entry 0 {0xc2e mask 0x0} of cb13: -EINVAL"));
            Assert.Equal("N/direct", r.ClassAndDma("cb14"));
        }
    }

    [Fact]
    public void The_last_user_of_an_entry_frees_it_and_its_group_on_release()
    {
        var r = KernelRun.Run("smmu-500-smr.dts", "K68", "REG(smmu) PROBE(cb13) REMOVE(cb13)");
        var st = (FwspecInstanceState)r.Execution.Kernel.Instances.Single().DriverData!;
        var cb13 = st.StreamMap.Single(e => e.Id == 0xc2e);
        Assert.Equal((0, (IommuLab.Model.Kernel.IommuGroup?)null), (cb13.Count, cb13.Group));
    }

    /// <summary>
    /// From v6.15 the registration walk probes every device it can parse; probe_iommu_group() forgives only -ENODEV,
    /// so cb12's -EINVAL stops bus_iommu_probe() and iommu_device_register() fails for every consumer (I12) [derived].
    /// </summary>
    [Fact]
    public void From_k615_an_overlapping_smr_met_by_the_registration_walk_fails_the_whole_registration()
    {
        var r = KernelRun.Run("smmu-500-smr.dts", "K616", "REG(smmu)");
        Assert.True(r.Logged("arm_smmu_find_sme", "partly overlaps"));
        Assert.Contains("I12", r.Violated().Split(','));
    }

    /// <summary>
    /// arm_smmu_device_group() ends with the last entry's group: with the crypto engine grouped first, the BAM's new
    /// last entry has none, so the BAM gets a new group written over the shared entry too, and the crypto engine's
    /// stream then translates through the BAM's domain (docs/findings.md C1) [derived].
    /// </summary>
    [Theory]
    [InlineData("REG(smmu) PROBE(bam7280) PROBE(qce7280)", true)]
    [InlineData("REG(smmu) PROBE(qce7280) PROBE(bam7280)", false)]
    public void The_group_of_a_master_comes_from_its_last_stream_map_entry(string schedule, bool shared)
    {
        var r = KernelRun.Run("smmu-500-smr.dts", "K68", schedule);
        Assert.Equal(shared, r.Device("bam7280").Group == r.Device("qce7280").Group);
        Assert.Equal(!shared, r.DmaViolated("qce7280"));
    }
}
