using IommuLab.Model.Exploration;

namespace IommuLab.Tests.Exploration;

/// <summary>
/// Fine-grained exploration (every scheduling point a step) finds the concurrency scenarios of spec §5.6 that the
/// kernel tests reproduce with hand-scripted interleavings: S-R1, S-CT, S-JH and S-TA; none is given a schedule.
/// </summary>
public sealed class RaceTests
{
    private static ExplorationOptions Fine(int budget) => new() { Granularity = Granularity.Fine, Budget = budget };

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

    [Theory]
    [InlineData("K615")]
    [InlineData("K616")]
    public void S_CT_window_is_closed_from_k615(string profile)
    {
        var (r, _) = ExplorationHarness.Check("single-dart.dts", profile, Fine(20_000));
        Assert.True(r.Complete);
        Assert.DoesNotContain(r.Violations, v => v.Invariant == "I4");
    }

    [Theory]
    [InlineData("K615", true)]
    [InlineData("K616", false)]
    public void S_JH_late_probe_during_the_walk_is_found_in_k615_only(string profile, bool late)
    {
        var (r, _) = ExplorationHarness.Check("single-dart.dts", profile, Fine(20_000));
        Assert.True(r.Complete);
        Assert.Equal(late, r.Has("I17", "/soc/dcp@231c00000"));
    }

    [Fact]
    public void S_TA_late_probe_of_a_two_dart_device_is_found_in_k616()
    {
        var (r, _) = ExplorationHarness.Check("usb-two-darts.dts", "K616", Fine(2000));
        var late = r.Violations.First(v => v.Invariant == "I17" && v.Device == "/soc/usb@382280000");
        Assert.Contains(late.Steps, s => s.StartsWith("REG(dwc3_0_dart_1)", StringComparison.Ordinal));
    }
}
