using IommuLab.Model.Kernel;

namespace IommuLab.Tests.Kernel;

/// <summary>Hector Martin's two bugs from the 06/17 thread (spec §5.4), the fixes, and the locked display DART (spec §6.6).</summary>
public sealed class HectorBugTests
{
    private const string S1 = "REG(dwc3_0_dart_0) PROBE(usb_drd0) REG(dwc3_0_dart_1)";

    /// <summary>Bug #1 (20a7ef6d-a8ca-4bd8-ad7e-11856db617a2@marcan.st): -EINVAL, bound without IOMMU, later attached to one DART.</summary>
    [Theory]
    [InlineData("K66")]
    [InlineData("K67")]
    [InlineData("K68")]
    public void Bug1_second_dart_late_gives_einval_binds_without_iommu_then_attaches_first_dart_only(string profile)
    {
        var r = KernelRun.Run("usb-two-darts.dts", profile, S1);
        var k = r.Execution.Kernel;
        var probe = r.Execution.Steps.Single(s => s.Event == "PROBE(usb_drd0)");
        var probeEvents = k.Events.Skip(probe.FirstEvent).Take(probe.EventCount).ToList();
        Assert.Contains(probeEvents, e => e.Function == "iommu_fwspec_init" && e.Message.Contains("-EINVAL", StringComparison.Ordinal));
        Assert.Contains(probeEvents, e => e.Function == "driver_bound" && e.Message.Contains("direct DMA", StringComparison.Ordinal));
        if (!k.Switches.ConfigureReturnsOps)
        {
            Assert.True(r.Logged("of_dma_configure_id", "iommu configuration for device failed with -EINVAL"));
        }

        var reg = r.Execution.Steps.Single(s => s.Event == "REG(dwc3_0_dart_1)");
        Assert.Contains(k.Events.Skip(reg.FirstEvent).Take(reg.EventCount), e => e.Device == "usb_drd0" && e.Function == "__iommu_probe_device" && e.Message.Contains("Adding to iommu group", StringComparison.Ordinal));
        Assert.Equal(["/soc/iommu@382f00000:0"], r.Device("usb_drd0").GroupCoverage.Select(s => s.ToString()));
        Assert.Equal("direct", r.Device("usb_drd0").Dma);
    }

    /// <summary>Bug #2 (1eb12c35-e64e-4c32-af99-8743dc2ec266@marcan.st): with F1 the device is left on one DART.</summary>
    [Fact]
    public void Bug2_with_fix1_the_walk_groups_the_device_on_the_first_dart_and_the_retry_never_adds_the_second()
    {
        var r = KernelRun.Run("usb-two-darts.dts", "JGG2+F1", S1);
        var d = r.Device("usb_drd0");
        Assert.Equal(DeviceClass.T, d.Class);
        Assert.Equal("iommu-dma", d.Dma);
        Assert.Equal(["/soc/iommu@382f00000:0", "/soc/iommu@382f80000:1"], d.Configured.Select(s => s.ToString()));
        Assert.Equal(["/soc/iommu@382f00000:0"], d.GroupCoverage.Select(s => s.ToString()));
        Assert.True(r.Logged("__iommu_probe_device", "already in group"));
        var dart1 = r.InstanceStreams.Single(i => i.Instance.Name == "dwc3_0_dart_1");
        Assert.DoesNotContain(dart1.Streams, s => s.Sid == 1);
    }

    /// <summary>F1 + AD (ab23469f-19ce-4681-afc9-65518730b51b@marcan.st: "that makes it work with only the first change").</summary>
    [Fact]
    public void Fix1_with_jasons_apple_dart_check_groups_both_darts()
    {
        var r = KernelRun.Run("usb-two-darts.dts", "JGG2+F1+AD", S1);
        Assert.Equal(["/soc/iommu@382f00000:0", "/soc/iommu@382f80000:1"], r.Device("usb_drd0").GroupCoverage.Select(s => s.ToString()));
        Assert.True(r.Logged("iommu_init_device", "apple-dart probe_device: -ENODEV"));
        Assert.Equal(1, r.CfgLeaks());
    }

    /// <summary>Each switch of the fix alone is a profile nobody shipped: AD without F1 still hits bug #1.</summary>
    [Fact]
    public void Jasons_apple_dart_check_without_fix1_still_binds_without_iommu()
    {
        var r = KernelRun.Run("usb-two-darts.dts", "JGG2", S1, sets: ["DartProbeChecksFwspec=true"]);
        Assert.Equal("N/direct", r.ClassAndDma("usb_drd0"));
    }

    /// <summary>Locked first DART on mainline (spec §6.6): its probe fails, the display waits, then binds without IOMMU.</summary>
    [Theory]
    [InlineData("K66")]
    [InlineData("K68")]
    [InlineData("K611")]
    [InlineData("K616")]
    [InlineData("JGG2+F1+AD")]
    public void Locked_display_dart_fails_probe_on_mainline_and_the_display_waits_for_the_timeout(string profile)
    {
        const string schedule = "REG(disp0_dart) REG(dispext0_dart) PROBE(display)";
        var waiting = KernelRun.Run("display-locked-dart.dts", profile, schedule);
        Assert.True(waiting.Logged("apple_dart_hw_reset", "DART is locked down until reboot"));
        Assert.Equal("W/-", waiting.ClassAndDma("display"));
        var timedOut = KernelRun.Run("display-locked-dart.dts", profile, schedule + " TIMEOUT");
        Assert.Equal("N/direct", timedOut.ClassAndDma("display"));
        Assert.True(timedOut.Logged("driver_deferred_probe_check_state", "deferred probe timeout, ignoring dependency"));
    }

    /// <summary>Asahi downstream locked-DART support: the display gets a DMA domain built on the bootloader's TTBR.</summary>
    [Theory]
    [InlineData("K66")]
    [InlineData("K611")]
    [InlineData("K616")]
    [InlineData("JGG2+F1+AD")]
    public void Locked_display_dart_with_downstream_support_translates_on_the_bootloader_page_table(string profile)
    {
        var r = KernelRun.Run("display-locked-dart.dts", profile, "REG(disp0_dart) REG(dispext0_dart) PROBE(display)", sets: ["DartLockedSupport=true"]);
        Assert.Equal("T/iommu-dma", r.ClassAndDma("display"));
        Assert.True(r.Logged("apple_dart_finalize_domain", "TTBR read back from locked disp0_dart"));
        var disp0 = r.InstanceStreams.Single(i => i.Instance.Name == "disp0_dart").Streams.Single(s => s.Sid == 0);
        Assert.Equal("bootloader", disp0.Ttbr);
        var ext = r.InstanceStreams.Single(i => i.Instance.Name == "dispext0_dart").Streams.Single(s => s.Sid == 0);
        Assert.StartsWith("domain", ext.Ttbr, StringComparison.Ordinal);
    }

    /// <summary>The spec S-TA proposal as a switch: K616 with the ready check made unconditional.</summary>
    [Fact]
    public void Unconditional_ready_check_is_a_switch_on_k616()
    {
        var (p, error) = Profiles.K616.With("ReadyCheck=Always");
        Assert.Null(error);
        Assert.Equal(ReadyCheck.Always, p!.Switches.ReadyCheck);
        var r = KernelRun.Run("usb-two-darts.dts", "K616", "REG(dwc3_0_dart_0) REG(dwc3_0_dart_1) PROBE(usb_drd0)", sets: ["ReadyCheck=Always"]);
        Assert.Equal("T/iommu-dma", r.ClassAndDma("usb_drd0"));
    }
}
