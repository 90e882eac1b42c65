using IommuLab.Model.Kernel;

namespace IommuLab.Tests.Kernel;

public sealed class ProfileTests
{
    [Fact]
    public void The_ten_profiles_of_the_spec_exist_in_order()
    {
        Assert.Equal(["K66", "K67", "K68", "K611", "K615", "K616", "JGG2", "JGG2+F1", "JGG2+F1+HF2", "JGG2+F1+AD"], Profiles.All.Select(p => p.Name));
        Assert.All(Profiles.All, p => Assert.NotEmpty(p.Commits));
    }

    [Fact]
    public void Every_switch_property_has_a_catalog_entry_and_round_trips_by_name()
    {
        var props = typeof(KernelSwitches).GetProperties().Where(p => p.CanWrite && p.Name != "EqualityContract").Select(p => p.Name).Order();
        Assert.Equal(props, SwitchCatalog.All.Select(s => s.Name).Order());
        foreach (var s in SwitchCatalog.All)
        {
            foreach (var v in s.Values.Where(v => v != "an integer"))
            {
                var (next, error) = SwitchCatalog.Apply(Profiles.K66.Switches, $"{s.Name}={v}");
                Assert.Null(error);
                Assert.Equal(v, s.Get(next!), ignoreCase: true);
            }
        }
    }

    [Fact]
    public void Adjacent_profiles_differ_in_the_switches_the_spec_names()
    {
        static IEnumerable<string> Diff(Profile a, Profile b) => SwitchCatalog.All.Where(s => s.Get(a.Switches) != s.Get(b.Switches)).Select(s => s.Name);
        Assert.Equal(["ConfigureTakesProbeLock"], Diff(Profiles.K66, Profiles.K67));
        Assert.Equal(["AssignIommuDefers"], Diff(Profiles.Jgg2, Profiles.Jgg2F1));
        Assert.Equal(["DartProbeChecksFwspec"], Diff(Profiles.Jgg2F1, Profiles.Jgg2F1Ad));
        Assert.Equal(["FreeDevIommuOnDefer"], Diff(Profiles.Jgg2F1, Profiles.Jgg2F1Hf2));
        Assert.Equal(["ReadyCheck", "InitDeviceParse", "DartCheckIas"], Diff(Profiles.K615, Profiles.K616).OrderBy(n => n == "ReadyCheck" ? 0 : n == "InitDeviceParse" ? 1 : 2));
    }

    [Theory]
    [InlineData("Nope=1", "unknown switch 'Nope'")]
    [InlineData("ReadyCheck=Sometimes", "bad value 'Sometimes' for ReadyCheck")]
    [InlineData("DartMaxDarts=0", "bad value '0' for DartMaxDarts")]
    [InlineData("ReadyCheck", "expected Switch=value")]
    public void Bad_overrides_are_rejected_with_a_message(string assignment, string message)
    {
        var (p, error) = Profiles.K616.With(assignment);
        Assert.Null(p);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    /// <summary>The model reads switches, never names: K68's switches under another name behave as K68.</summary>
    [Fact]
    public void A_renamed_profile_with_the_same_switches_gives_the_same_outcome()
    {
        var platform = KernelRun.Platform("usb-two-darts.dts");
        var (events, _) = ScheduleParser.Parse("REG(dwc3_0_dart_0) PROBE(usb_drd0) REG(dwc3_0_dart_1)", platform);
        var a = RunResult.Of(Execution.Run(platform, Profiles.K68, events!));
        var b = RunResult.Of(Execution.Run(platform, Profiles.K68 with { Name = "mine" }, events!));
        Assert.Equal(a.Devices.Select(d => d.ToString()), b.Devices.Select(d => d.ToString()));
        Assert.Equal(a.Violations.Select(v => v.Invariant), b.Violations.Select(v => v.Invariant));
    }

    /// <summary>Two executions in one process share nothing (no static mutable state).</summary>
    [Fact]
    public void Executions_are_independent_and_repeatable()
    {
        var first = KernelRun.Run("usb-two-darts.dts", "K616", "REG(dwc3_0_dart_0) PROBE(usb_drd0) REG(dwc3_0_dart_1)");
        KernelRun.Run("usb-two-darts.dts", "K66", "REG(dwc3_0_dart_1) PROBE(usb_drd0)");
        var again = KernelRun.Run("usb-two-darts.dts", "K616", "REG(dwc3_0_dart_0) PROBE(usb_drd0) REG(dwc3_0_dart_1)");
        Assert.Equal(first.Execution.Kernel.Events.Select(e => e.ToString()), again.Execution.Kernel.Events.Select(e => e.ToString()));
    }
}
