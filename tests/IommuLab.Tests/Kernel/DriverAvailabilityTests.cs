using IommuLab.Model.Kernel;

namespace IommuLab.Tests.Kernel;

/// <summary>
/// IOMMU drivers built in, modules or absent (spec §2.8, §2.5, §4.3): S4 (spec §5.6, dwc3_0_dart_1 never registers)
/// with each way of never registering, and the module references try_module_get() takes.
/// </summary>
public sealed class DriverAvailabilityTests
{
    private const string Usb = "usb-two-darts.dts";
    private const string A = "dwc3_0_dart_0";
    private const string B = "dwc3_0_dart_1";
    private const string D = "usb_drd0";

    private const string WithoutB = $"REG({A}) PROBE({D})";
    private const string WithB = $"REG({A}) REG({B}) PROBE({D})";

    /// <summary>
    /// Ways B never registers with CONFIG_MODULES: its probe never runs (no REG), no driver matches it, its probe
    /// fails, or its built-in driver never gets to probe it. Waiting violations: K615+ leak the cfg each deferral frees
    /// with dev->iommu (S-LEAK, I13).
    /// </summary>
    public static TheoryData<string, string, string, string> S4Knobs => new()
    {
        { "K611", WithoutB, "", "" },
        { "K611", WithB, $"{B}.driver=absent", "" },
        { "K611", WithB, $"{B}.probe-fails=1", "" },
        { "K615", WithoutB, "", "I13" },
        { "K615", WithB, $"{B}.driver=absent", "I13" },
        { "K615", WithB, $"{B}.probe-fails=1", "I13" },
        { "K616", WithoutB, "", "I13" },
        { "K616", WithB, $"{B}.driver=absent", "I13" },
        { "K616", WithB, $"{B}.probe-fails=1", "I13" },
        { "K616", WithoutB, $"{A}.driver=builtin;{B}.driver=builtin", "I13" },
    };

    /// <summary>K611+: D defers until the timeout, then binds without IOMMU (-ETIMEDOUT) with no fwspec and no group.</summary>
    [Theory]
    [MemberData(nameof(S4Knobs))]
    public void S4_with_modules_defers_until_the_timeout_then_binds_without_the_iommu(string profile, string schedule, string knobs, string waitingViolations)
    {
        var k = knobs.Length == 0 ? [] : knobs.Split(';');
        var waiting = KernelRun.Run(Usb, profile, schedule, knobs: k);
        Assert.Equal("W/-", waiting.ClassAndDma(D));
        Assert.Equal(waitingViolations, waiting.Violated());
        var timedOut = KernelRun.Run(Usb, profile, schedule + " TIMEOUT", knobs: k);
        Assert.Equal("N/direct", timedOut.ClassAndDma(D));
        Assert.True(timedOut.Logged("driver_deferred_probe_check_state", "deferred probe timeout, ignoring dependency"));
        Assert.Contains(timedOut.Device(D).Fwspec, new[] { "none", "no fwspec" });
        Assert.Null(timedOut.Device(D).Group);
    }

    /// <summary>K66-K68: bug #1 binds D at once whichever way B is missing (leftover fwspec{A} and cfg: I1).</summary>
    [Theory]
    [InlineData("K66", "")]
    [InlineData("K68", "dwc3_0_dart_1.driver=absent")]
    [InlineData("K68", "dwc3_0_dart_1.probe-fails=1")]
    public void S4_before_k611_binds_at_once_through_bug_1(string profile, string knob)
    {
        var r = KernelRun.Run(Usb, profile, $"REG({A}) PROBE({D})", knobs: knob.Length == 0 ? [] : [knob]);
        Assert.Equal("N/direct", r.ClassAndDma(D));
        Assert.Equal("I1", r.Violated());
    }

    /// <summary>
    /// Without CONFIG_MODULES every driver is built in: D waits until late_initcall, whose second pass gets -ENODEV
    /// from driver_deferred_probe_check_state() ("assuming no driver"); no timeout is ever armed.
    /// </summary>
    [Theory]
    [InlineData("K611", $"{B}.driver=absent")]
    [InlineData("K616", $"{B}.driver=absent")]
    [InlineData("K616", $"{B}.probe-fails=1")]
    public void S4_without_modules_binds_without_the_iommu_at_late_initcall(string profile, string knob)
    {
        var early = new PlatformKnobs { Modules = false, AfterLateInitcall = false };
        var before = KernelRun.Run(Usb, profile, $"REG({A}) REG({B}) PROBE({D})", knobs: [knob], platformKnobs: early);
        Assert.Equal("W/-", before.ClassAndDma(D));
        var r = KernelRun.Run(Usb, profile, $"REG({A}) REG({B}) PROBE({D}) LATE", knobs: [knob], platformKnobs: early);
        Assert.Equal("N/direct", r.ClassAndDma(D));
        Assert.True(r.Logged("driver_deferred_probe_check_state", "ignoring dependency for device, assuming no driver"));
        Assert.False(r.Execution.Kernel.TimeoutArmed);
        Assert.All(r.Drivers, d => Assert.Equal(DriverAvailability.BuiltIn, d.Availability));
    }

    /// <summary>A module's first probe loads it (driver_register); built-in drivers registered before the schedule.</summary>
    [Fact]
    public void Module_drivers_register_at_their_first_probe_and_built_in_ones_before_the_schedule()
    {
        var modules = KernelRun.Run(Usb, "K616", $"REG({A})");
        Assert.True(modules.Logged("driver_register", "module apple-dart loaded at t=0s"));
        Assert.Contains("apple-dart", modules.Execution.Kernel.RegisteredDrivers);
        Assert.DoesNotContain("apple,t8103-dwc3", modules.Execution.Kernel.RegisteredDrivers);
        var builtin = KernelRun.Run(Usb, "K616", $"REG({A})", knobs: [$"{A}.driver=builtin", $"{B}.driver=builtin"]);
        Assert.False(builtin.Logged("driver_register", "apple-dart"));
        Assert.Contains("apple-dart", builtin.Execution.Kernel.RegisteredDrivers);
    }

    /// <summary>iommu_init_device() holds a reference on the driver module for every probed device; a built-in owner is NULL.</summary>
    [Theory]
    [InlineData("module", 1)]
    [InlineData("builtin", 0)]
    public void Probed_devices_hold_a_module_reference_on_a_module_driver(string availability, int refs)
    {
        var r = KernelRun.Run(Usb, "K616", $"REG({A}) REG({B}) PROBE({D})", knobs: [$"{A}.driver={availability}", $"{B}.driver={availability}"]);
        Assert.Equal("T/iommu-dma", r.ClassAndDma(D));
        Assert.Equal(refs, r.Execution.Kernel.ModuleRefs.GetValueOrDefault("apple-dart"));
        Assert.Equal(refs, r.Drivers.Single(d => d.Name == "apple-dart").ModuleRefs);
    }

    [Theory]
    [InlineData(true, new[] { "dwc3_0_dart_0.driver=builtin", "dwc3_0_dart_1.driver=module" }, "apple-dart cannot be both built in and a module")]
    [InlineData(false, new[] { "dwc3_0_dart_0.driver=module" }, "driver=module needs CONFIG_MODULES")]
    [InlineData(false, new[] { "usb_drd0.driver=module" }, "driver=module needs CONFIG_MODULES")]
    public void Impossible_driver_knobs_are_rejected(bool modules, string[] knobs, string message)
    {
        var tree = IommuLab.Firmware.DeviceTree.DeviceTreeLoader.LoadFile(KernelRun.FixturePath(Usb));
        var (platform, error) = DtPlatformBuilder.Build(tree, new PlatformKnobs { Modules = modules }, knobs);
        Assert.Null(platform);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }
}
