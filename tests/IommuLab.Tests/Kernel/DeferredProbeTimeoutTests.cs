using IommuLab.Model.Kernel;

namespace IommuLab.Tests.Kernel;

/// <summary>
/// The deferred-probe timer (drivers/base/dd.c, spec §2.8) on the model clock: late_initcall arms it, every
/// driver_register() of a module re-arms a pending one for a full period (deferred_probe_extend_timeout), TIMEOUT
/// advances the clock to the deadline, WAIT(n) fires it on the way. usb-two-darts.dts with dwc3_0_dart_1 absent: the
/// consumer waits for an IOMMU that never comes (S4), under K616.
/// </summary>
public sealed class DeferredProbeTimeoutTests
{
    private const string Usb = "usb-two-darts.dts";
    private static readonly string[] BAbsent = ["dwc3_0_dart_1.driver=absent"];

    private static RunResult Run(string schedule, IReadOnlyList<string>? knobs = null, PlatformKnobs? platformKnobs = null) =>
        KernelRun.Run(Usb, "K616", schedule, knobs ?? BAbsent, platformKnobs: platformKnobs);

    [Fact]
    public void The_timeout_fires_ten_seconds_after_late_initcall_by_default()
    {
        var before = Run("REG(dwc3_0_dart_0) PROBE(usb_drd0) WAIT(9)");
        Assert.Equal("W/-", before.ClassAndDma("usb_drd0"));
        Assert.Equal(10, before.Execution.Kernel.TimeoutDeadline);
        var after = Run("REG(dwc3_0_dart_0) PROBE(usb_drd0) WAIT(9) WAIT(1)");
        Assert.Equal("N/direct", after.ClassAndDma("usb_drd0"));
        Assert.True(after.Logged("deferred_probe_timeout_work_func", "expires at t=10s"));
        Assert.True(after.Logged("driver_deferred_probe_check_state", "deferred probe timeout, ignoring dependency"));
        Assert.False(after.Execution.Kernel.TimeoutArmed);
        Assert.Equal(10, after.Execution.Kernel.Clock);
    }

    /// <summary>The dwc3 module loads at t=6 (its first probe): the pending timeout is re-armed to t=16.</summary>
    [Fact]
    public void A_module_driver_registration_extends_the_pending_timeout_by_a_full_period()
    {
        var r = Run("REG(dwc3_0_dart_0) WAIT(6) PROBE(usb_drd0) WAIT(6)");
        Assert.Equal("W/-", r.ClassAndDma("usb_drd0"));
        Assert.Equal(16, r.Execution.Kernel.TimeoutDeadline);
        Assert.True(r.Logged("deferred_probe_extend_timeout", "Extended deferred probe timeout by 10 secs (now fires at t=16s)"));
        var fired = Run("REG(dwc3_0_dart_0) WAIT(6) PROBE(usb_drd0) WAIT(6) TIMEOUT");
        Assert.Equal("N/direct", fired.ClassAndDma("usb_drd0"));
        Assert.Equal(16, fired.Execution.Kernel.Clock);
    }

    /// <summary>The same schedule with dwc3 built in: no driver_register() at t=6, so the timeout fires at t=10.</summary>
    [Fact]
    public void A_built_in_driver_registered_at_its_initcall_does_not_extend_the_timeout()
    {
        var r = Run("REG(dwc3_0_dart_0) WAIT(6) PROBE(usb_drd0) WAIT(6)", [.. BAbsent, "usb_drd0.driver=builtin"]);
        Assert.Equal("N/direct", r.ClassAndDma("usb_drd0"));
        Assert.True(r.Logged("deferred_probe_timeout_work_func", "expires at t=10s"));
        Assert.False(r.Logged("deferred_probe_extend_timeout", "now fires at t=16s"));
    }

    /// <summary>
    /// LOAD(usb_drd0) at t=8 registers dwc3 (deadline 18) without probing; the probe at t=16 still defers. Without the
    /// LOAD the timeout fires at t=10 and the probe at t=16 gives up at once.
    /// </summary>
    [Fact]
    public void An_explicit_load_extends_the_timeout_without_probing_anything()
    {
        var loaded = Run("REG(dwc3_0_dart_0) WAIT(8) LOAD(usb_drd0) WAIT(8)");
        Assert.Equal(DeviceClass.U, loaded.Device("usb_drd0").Class);
        Assert.Equal(18, loaded.Execution.Kernel.TimeoutDeadline);
        Assert.Equal("W/-", Run("REG(dwc3_0_dart_0) WAIT(8) LOAD(usb_drd0) WAIT(8) PROBE(usb_drd0)").ClassAndDma("usb_drd0"));
        Assert.Equal("N/direct", Run("REG(dwc3_0_dart_0) WAIT(8) WAIT(8) PROBE(usb_drd0)").ClassAndDma("usb_drd0"));
    }

    /// <summary>deferred_probe_extend_timeout() only re-arms pending work: not before late_initcall, not after expiry.</summary>
    [Fact]
    public void Registrations_before_late_initcall_or_after_expiry_arm_nothing()
    {
        var early = new PlatformKnobs { AfterLateInitcall = false };
        var r = Run("WAIT(5) REG(dwc3_0_dart_0) PROBE(usb_drd0) LATE", platformKnobs: early);
        Assert.False(r.Logged("deferred_probe_extend_timeout", "Extended"));
        Assert.Equal(15, r.Execution.Kernel.TimeoutDeadline);
        Assert.Equal("W/-", r.ClassAndDma("usb_drd0"));

        var expired = Run("REG(dwc3_0_dart_0) TIMEOUT PROBE(usb_drd0) TIMEOUT", ["usb_drd0.driver=module", .. BAbsent]);
        Assert.False(expired.Execution.Kernel.TimeoutArmed);
        Assert.True(expired.Logged("deferred_probe_timeout_work_func", "already expired): nothing happens"));
        Assert.Equal("N/direct", expired.ClassAndDma("usb_drd0"));
    }

    [Fact]
    public void Timeout_before_late_initcall_is_not_armed_and_does_nothing()
    {
        var r = Run("REG(dwc3_0_dart_0) PROBE(usb_drd0) TIMEOUT", platformKnobs: new PlatformKnobs { AfterLateInitcall = false });
        Assert.True(r.Logged("deferred_probe_timeout_work_func", "not armed yet: late_initcall has not run"));
        Assert.Equal("W/-", r.ClassAndDma("usb_drd0"));
        Assert.Equal(0, r.Execution.Kernel.Clock);
    }

    /// <summary>deferred_probe_timeout=0: check_state gives up as soon as initcalls are done (-ETIMEDOUT at once).</summary>
    [Fact]
    public void A_zero_timeout_gives_up_at_once_with_etimedout()
    {
        var r = Run("REG(dwc3_0_dart_0) PROBE(usb_drd0)", platformKnobs: new PlatformKnobs { DeferredProbeTimeout = 0 });
        Assert.Equal("N/direct", r.ClassAndDma("usb_drd0"));
        Assert.True(r.Logged("driver_deferred_probe_check_state", "deferred probe timeout, ignoring dependency"));
        Assert.False(r.Execution.Kernel.TimeoutArmed);
    }

    /// <summary>A negative deferred_probe_timeout= is never armed and never makes check_state give up.</summary>
    [Fact]
    public void A_negative_timeout_waits_forever()
    {
        var r = Run("REG(dwc3_0_dart_0) PROBE(usb_drd0) WAIT(1000) TIMEOUT", platformKnobs: new PlatformKnobs { DeferredProbeTimeout = -1 });
        Assert.Equal("W/-", r.ClassAndDma("usb_drd0"));
        Assert.True(r.Logged("deferred_probe_timeout_work_func", "no deferred-probe timeout is armed (deferred_probe_timeout=-1)"));
    }

    [Fact]
    public void Without_modules_the_default_timeout_is_zero_and_nothing_is_armed()
    {
        var knobs = new PlatformKnobs { Modules = false };
        Assert.Equal(0, knobs.DeferredProbeTimeoutSeconds);
        Assert.Equal(10, new PlatformKnobs().DeferredProbeTimeoutSeconds);
        var r = Run("REG(dwc3_0_dart_0) PROBE(usb_drd0)", platformKnobs: knobs);
        Assert.False(r.Execution.Kernel.TimeoutArmed);
    }

    [Theory]
    [InlineData("WAIT(x)", "WAIT needs whole seconds")]
    [InlineData("WAIT", "WAIT needs whole seconds")]
    [InlineData("LOAD", "LOAD needs a device")]
    [InlineData("LOAD(soc)", "is built in")]
    [InlineData("LOAD(dwc3_0_dart_1)", "no driver for it")]
    public void Bad_load_and_wait_events_are_rejected(string schedule, string message)
    {
        var (events, error) = ScheduleParser.Parse(schedule, KernelRun.Platform(Usb, BAbsent));
        Assert.Null(events);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Wait_and_load_print_in_schedule_notation()
    {
        var (events, _) = ScheduleParser.Parse("WAIT(5) LOAD(usb_drd0) modprobe(dwc3_0_dart_0)", KernelRun.Platform(Usb));
        Assert.Equal(["WAIT(5)", "LOAD(usb_drd0)", "LOAD(dwc3_0_dart_0)"], events!.Select(e => e.ToString()));
    }
}
