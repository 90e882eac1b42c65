using IommuLab.Model.Kernel;

namespace IommuLab.Tests.Kernel;

/// <summary>Driver-core knobs (spec §2.8): late_initcall, CONFIG_MODULES, fw_devlink.strict, absent drivers, failing probes.</summary>
public sealed class DriverCoreTests
{
    private const string Usb = "usb-two-darts.dts";
    private const string S1 = "REG(dwc3_0_dart_0) PROBE(usb_drd0) REG(dwc3_0_dart_1)";

    [Fact]
    public void Before_late_initcall_triggers_are_no_ops_and_late_initcall_retries_the_deferred_device()
    {
        var early = new PlatformKnobs { AfterLateInitcall = false };
        var waiting = KernelRun.Run(Usb, "K611", S1, platformKnobs: early);
        Assert.Equal("W/-", waiting.ClassAndDma("usb_drd0"));
        var late = KernelRun.Run(Usb, "K611", S1 + " LATE", platformKnobs: early);
        Assert.Equal("T/iommu-dma", late.ClassAndDma("usb_drd0"));
    }

    [Fact]
    public void Without_modules_a_missing_iommu_is_ignored_at_once_with_enodev()
    {
        var r = KernelRun.Run(Usb, "K611", "REG(dwc3_0_dart_0) PROBE(usb_drd0)", platformKnobs: new PlatformKnobs { Modules = false });
        Assert.Equal("N/direct", r.ClassAndDma("usb_drd0"));
        Assert.True(r.Logged("driver_deferred_probe_check_state", "ignoring dependency for device, assuming no driver"));
    }

    /// <summary>fw_devlink.strict=1 makes the IOMMUs mandatory suppliers, hiding bug #1 (spec §2.8).</summary>
    [Theory]
    [InlineData("K66")]
    [InlineData("K68")]
    [InlineData("JGG2")]
    public void Strict_fw_devlink_defers_the_consumer_until_both_darts_are_bound(string profile)
    {
        var r = KernelRun.Run(Usb, profile, S1, platformKnobs: new PlatformKnobs { FwDevlinkStrict = true });
        Assert.True(r.Logged("device_links_check_suppliers", "wait for supplier /soc/iommu@382f80000"));
        Assert.Equal("T/iommu-dma", r.ClassAndDma("usb_drd0"));
        Assert.Equal("", r.Violated());
    }

    [Fact]
    public void An_absent_iommu_driver_never_registers_and_the_consumer_waits()
    {
        var r = KernelRun.Run(Usb, "K616", "REG(dwc3_0_dart_0) REG(dwc3_0_dart_1) PROBE(usb_drd0)", knobs: ["dwc3_0_dart_1.driver=absent"]);
        Assert.Equal("W/-", r.ClassAndDma("usb_drd0"));
        Assert.False(r.Execution.Kernel.Instances[1].Registered);
    }

    [Fact]
    public void An_instance_whose_probe_fails_is_a_failed_device_and_never_registers()
    {
        var r = KernelRun.Run(Usb, "K611", "REG(dwc3_0_dart_0) REG(dwc3_0_dart_1) PROBE(usb_drd0) TIMEOUT", knobs: ["dwc3_0_dart_1.probe-fails=1"]);
        Assert.Equal(DriverState.Failed, r.Execution.Kernel.Devices.Single(d => d.Name == "dwc3_0_dart_1").State);
        Assert.Equal("N/direct", r.ClassAndDma("usb_drd0"));
    }

    /// <summary>K615+: a consumer without a driver is still parsed and grouped by the walk (the IOMMU probe path).</summary>
    [Theory]
    [InlineData("K611", false)]
    [InlineData("K616", true)]
    public void An_absent_consumer_driver_is_never_bound_but_walks_may_still_group_it(string profile, bool grouped)
    {
        var r = KernelRun.Run(Usb, profile, "REG(dwc3_0_dart_0) REG(dwc3_0_dart_1) PROBE(usb_drd0)", knobs: ["usb_drd0.driver=absent"]);
        Assert.Equal(DeviceClass.U, r.Device("usb_drd0").Class);
        Assert.Equal(grouped, r.Device("usb_drd0").Group is not null);
    }

    [Fact]
    public void Explicit_work_steps_let_a_registration_slip_in_before_the_retry()
    {
        var platform = KernelRun.Platform(Usb);
        var (events, _) = ScheduleParser.Parse("PROBE(usb_drd0) REG(dwc3_0_dart_0) REG(dwc3_0_dart_1) WORK", platform);
        var manual = RunResult.Of(Execution.Run(platform, Profiles.K68, events!, new RunOptions { AutoWork = false }));
        Assert.Equal("T/iommu-dma", manual.ClassAndDma("usb_drd0"));
        var auto = RunResult.Of(Execution.Run(platform, Profiles.K68, events!));
        Assert.Equal("T/direct", auto.ClassAndDma("usb_drd0"));
    }

    /// <summary>The quiescent outcome compares states across orders: S1 ≠ S2 in K68, S1 = S2 in K611 (spec I5).</summary>
    [Theory]
    [InlineData("K68", false)]
    [InlineData("JGG2+F1", false)]
    [InlineData("K611", true)]
    [InlineData("JGG2+F1+AD", false)]
    public void Quiescent_outcomes_of_s1_and_s2_are_equal_only_where_the_order_does_not_matter(string profile, bool equal)
    {
        var s1 = QuiescentOutcome.Of(KernelRun.Run(Usb, profile, S1).Execution.Kernel);
        var s2 = QuiescentOutcome.Of(KernelRun.Run(Usb, profile, "REG(dwc3_0_dart_1) PROBE(usb_drd0) REG(dwc3_0_dart_0)").Execution.Kernel);
        Assert.Equal(equal, s1 == s2);
        Assert.Equal(equal, s1.GetHashCode() == s2.GetHashCode());
    }
}
