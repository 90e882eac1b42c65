using IommuLab.Model.Exploration;

namespace IommuLab.Tests.Exploration;

/// <summary>
/// Fine-grained exploration (every scheduling point a step) finds the concurrency scenarios of spec §5.6 that the
/// kernel tests reproduce with hand-scripted interleavings: S-R1, S-CT, S-JH and S-TA; none is given a schedule.
/// </summary>
public sealed class RaceTests
{
    private static ExplorationOptions Fine(int budget) => new() { Granularity = Granularity.Fine, Budget = budget };

    // Built-in drivers: the module loads (driver_register, timeout extension) add steps that do not touch these races.
    private static readonly string[] BuiltIn = ["dcp.driver=builtin", "dcp_dart.driver=builtin"];

    [Fact]
    public void S_R1_use_after_free_is_found_in_k66()
    {
        var (r, _) = ExplorationHarness.Check("single-dart.dts", "K66", Fine(5000));
        Assert.True(r.Has("I13", "/soc/dcp@231c00000", "kernel crash"));
    }

    [Fact]
    public void S_R1_is_impossible_in_k67_proved_by_complete_exploration()
    {
        var (r, _) = ExplorationHarness.Check("single-dart.dts", "K67", Fine(20_000));
        Assert.True(r.Complete);
        Assert.DoesNotContain(r.Violations, v => v.Message.Contains("crash", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("K67", "bound with direct DMA")]
    [InlineData("K68", "bound with direct DMA")]
    [InlineData("K611", "DMA ops changed under a bound driver")]
    public void S_CT_default_domain_window_is_found_before_k615(string profile, string message)
    {
        var (r, _) = ExplorationHarness.Check("single-dart.dts", profile, Fine(20_000));
        Assert.True(r.Has("I4", "/soc/dcp@231c00000", message));
    }

    /// <summary>
    /// From K615 no order leaves the device bound with direct DMA under a DMA domain (use_default_domain defers while
    /// the group has no default domain). One window remains (docs/findings.md, F-NOGROUP, derived from v6.15/v6.16
    /// iommu.c): the walk's iommu_init_device() drops iommu_probe_device_lock around dma_configure after
    /// dev_iommu_get(); a concurrent really_probe() then finds the fwspec, skips the replay (dev->iommu is present), sees
    /// no group in iommu_device_use_default_domain() (returns 0) and binds with dma-direct; the walk then groups the
    /// device and iommu_setup_dma_ops() switches it to iommu-dma underneath the driver.
    /// </summary>
    [Theory]
    [InlineData("K615")]
    [InlineData("K616")]
    public void S_CT_is_fixed_from_k615_but_the_no_group_window_of_the_walk_still_switches_a_bound_driver(string profile)
    {
        var (r, _) = ExplorationHarness.CheckWith("single-dart.dts", BuiltIn, profile, Fine(20_000));
        Assert.True(r.Complete);
        Assert.False(r.Has("I4", "/soc/dcp@231c00000", "bound with direct DMA"));
        var i4 = Assert.Single(r.Violations, v => v.Invariant == "I4");
        Assert.Contains("DMA ops changed under a bound driver", i4.Message, StringComparison.Ordinal);

        // The driver binds before the walk's probe of the device creates its group: the walk itself probes it late.
        Assert.True(r.Has("I17", "/soc/dcp@231c00000", "own registration walk"));
    }

    /// <summary>S-JH: the replay probes the device while the registration walk is still running (K615).</summary>
    [Fact]
    public void S_JH_late_probe_during_the_walk_is_found_in_k615()
    {
        var (r, _) = ExplorationHarness.CheckWith("single-dart.dts", BuiltIn, "K615", Fine(20_000));
        Assert.True(r.Complete);
        var sjh = Assert.Single(r.Violations, v => v.Invariant == "I17" && v.Message.Contains("registration walk is running", StringComparison.Ordinal));
        Assert.Contains("probed by the replay path", sjh.Facts);
    }

    /// <summary>
    /// K616 closes S-JH by da33e87bd2bf's ready check in iommu_fwspec_init(): a driver probe that finds no dev->iommu
    /// defers until the walk has finished, so no replay probes the device during the walk (proved by complete
    /// exploration). What remains is the walk's own WARN: a concurrent really_probe() sets dev->driver while the walk
    /// has dropped iommu_probe_device_lock around dma_configure, so bus_iommu_probe() itself probes the device, in device
    /// order, with a driver set (Robin Murphy, 13510f0d-fa8e-4094-af45-aeef59b128b3@arm.com, calls it a false positive).
    /// </summary>
    [Fact]
    public void S_JH_is_impossible_in_k616_and_only_the_walks_own_false_positive_warn_remains()
    {
        var (r, _) = ExplorationHarness.CheckWith("single-dart.dts", BuiltIn, "K616", Fine(20_000));
        Assert.True(r.Complete);
        Assert.False(r.Has("I17", "/soc/dcp@231c00000", "registration walk is running"));
        var own = Assert.Single(r.Violations, v => v.Invariant == "I17" && v.Message.Contains("own registration walk", StringComparison.Ordinal));
        Assert.Contains(own.Facts, f => f.Contains("bus_iommu_probe() itself", StringComparison.Ordinal));
    }

    /// <summary>The outcome follows from the ready check, not from the profile: K616 without it has S-JH again.</summary>
    [Fact]
    public void K616_without_the_ready_check_has_s_jh_again()
    {
        var (r, _) = ExplorationHarness.CheckWith("single-dart.dts", BuiltIn, "K616", Fine(20_000), "ReadyCheck=None");
        Assert.True(r.Complete);
        Assert.Contains(r.Violations, v => v.Invariant == "I17" && v.Message.Contains("registration walk is running", StringComparison.Ordinal)
            && v.Facts.Contains("probed by the replay path"));
    }

    [Fact]
    public void S_TA_late_probe_of_a_two_dart_device_is_found_in_k616()
    {
        var (r, _) = ExplorationHarness.Check("usb-two-darts.dts", "K616", Fine(2000));
        // The replay probes the device while the second DART's walk is still running (its ready check was skipped).
        Assert.True(r.Has("I17", "/soc/usb@382280000", "dwc3_0_dart_1's registration walk is running"));
        Assert.Contains(r.Violations, v => v.Invariant == "I17" && v.Facts.Contains("probed by the replay path"));
    }

    /// <summary>
    /// The I4 found on the USB gang in fine mode is a real switch under a bound driver in each profile, by the
    /// profile's mechanism (docs/findings.md): K611 binds while the walk's group has no default domain yet (S-CT);
    /// K615/K616 bind before the walk has even created the group (F-NOGROUP), which b46064a18810 does not cover.
    /// </summary>
    [Theory]
    [InlineData("K611", true)]
    [InlineData("K615", false)]
    [InlineData("K616", false)]
    public void Usb_gang_dma_ops_switch_in_fine_mode_follows_the_profiles_window(string profile, bool groupedBeforeBind)
    {
        var (r, platform) = ExplorationHarness.Check("usb-two-darts.dts", profile, Fine(2000));
        var i4 = Assert.Single(r.Violations, v => v.Invariant == "I4");
        Assert.Contains("DMA ops changed under a bound driver", i4.Message, StringComparison.Ordinal);
        var k = ExplorationHarness.ReplayKernel("usb-two-darts.dts", platform, r, i4);
        int At(Func<Model.Kernel.KernelEvent, bool> p) => k.Events.ToList().FindIndex(e => e.Device == "usb_drd0" && p(e));
        var bound = At(e => e.Function == "driver_bound");
        var grouped = At(e => e.Function == "__iommu_probe_device" && e.Message.StartsWith("Adding to iommu group", StringComparison.Ordinal));
        var switched = At(e => e.Function == "iommu_setup_dma_ops" && e.Level == Model.Kernel.EventLevel.Warn);
        Assert.True(bound >= 0 && grouped >= 0 && switched > bound);
        Assert.Equal(groupedBeforeBind, grouped < bound);
    }

    /// <summary>
    /// JGG2+F1+AD in fine mode (docs/findings.md, F-JGG2-AD): patch 11 holds iommu_probe_device_lock around each
    /// iommu_fwspec_of_xlate() only, so a registration walk can run __iommu_probe_device() between the two xlates. The
    /// device has dev->iommu (priv = cfg{A}) but no fwspec (it lives on the caller's stack), AD makes
    /// apple_dart_probe_device() return -ENODEV, and iommu_init_device() frees dev->iommu with the cfg. The second xlate
    /// allocates a fresh dev->iommu and cfg{B}, and the device is grouped on the second DART only.
    /// </summary>
    [Fact]
    public void Jgg2_f1_ad_walk_between_the_two_xlates_leaves_a_group_on_the_second_dart_only()
    {
        var (r, _) = ExplorationHarness.Check("usb-two-darts.dts", "JGG2+F1+AD", Fine(2000));
        var i2 = Assert.Single(r.Violations, v => v.Invariant == "I2");
        Assert.Equal("/soc/usb@382280000", i2.Device);
        Assert.True(r.Has("I5", "/soc/usb@382280000", "covers={/soc/iommu@382f80000:1}"));

        // Coarse events (a whole of_iommu_configure() per step) cannot split the two xlates: no partial gang.
        var (coarse, _) = ExplorationHarness.Check("usb-two-darts.dts", "JGG2+F1+AD");
        Assert.True(coarse.Complete);
        Assert.DoesNotContain(coarse.Violations, v => v.Invariant == "I2");
    }

    /// <summary>
    /// JGG2+F1+HF2 in fine mode (docs/findings.md): the first DART's walk probes the device between the xlates on
    /// cfg{A} (bus ops, no AD), then HF2's dev_iommu_free() on the second xlate's deferral frees dev->iommu of a device
    /// that is already grouped; the retry finds the group and binds on the first DART only (Hector's bug #2 survives HF2).
    /// </summary>
    [Fact]
    public void Jgg2_f1_hf2_walk_between_the_two_xlates_still_groups_the_first_dart_only()
    {
        var (r, _) = ExplorationHarness.Check("usb-two-darts.dts", "JGG2+F1+HF2", Fine(2000));
        Assert.True(r.Has("I2", "/soc/usb@382280000"));
        Assert.True(r.Has("I5", "/soc/usb@382280000", "covers={/soc/iommu@382f00000:0} vs"));
    }
}
