using IommuLab.Model.Exploration;

namespace IommuLab.Tests.Exploration;

/// <summary>
/// The explorer finds, with no schedule given, the order dependence of spec §5.6 S1 vs S2 (I5) on the USB shape with
/// two DARTs, and proves its absence where the kernel fixed it; every violation is replayed from its JSON trace.
/// </summary>
public sealed class OrderDependenceTests
{
    [Theory]
    [InlineData("K66")]
    [InlineData("K67")]
    [InlineData("K68")]
    [InlineData("JGG2")]
    [InlineData("JGG2+F1")]
    public void S1_vs_S2_order_dependence_is_found_automatically(string profile)
    {
        var (r, _) = ExplorationHarness.Check("usb-two-darts.dts", profile);
        Assert.True(r.Complete);
        Assert.Equal(r.Executions, r.Traces);
        var i5 = Assert.Single(r.Violations, v => v.Invariant == "I5");
        Assert.Equal("/soc/usb@382280000", i5.Device);
        Assert.Contains("{/soc/iommu@382f00000:0,/soc/iommu@382f80000:1}", i5.Message, StringComparison.Ordinal);

        // The broken order probes the consumer between the two registrations (S1); the contrast does not.
        var probe = i5.Steps.ToList().FindIndex(s => s.StartsWith("PROBE(usb_drd0)", StringComparison.Ordinal));
        Assert.Contains(i5.Steps.Take(probe), s => s == "REG(dwc3_0_dart_0)");
        Assert.DoesNotContain(i5.Steps.Take(probe), s => s == "REG(dwc3_0_dart_1)");
        Assert.True(r.Has("I2", "/soc/usb@382280000"));
    }

    [Theory]
    [InlineData("JGG2+F1+AD")]
    [InlineData("K611")]
    [InlineData("K615")]
    [InlineData("K616")]
    public void Two_dart_device_is_order_independent_once_fixed(string profile)
    {
        var (r, _) = ExplorationHarness.Check("usb-two-darts.dts", profile);
        Assert.True(r.Complete);
        Assert.Equal("exhaustive", StrategyNames.GetName(r.Options.Strategy));
        Assert.DoesNotContain(r.Violations, v => v.Invariant is "I5" or "I2" or "I4");
        Assert.Single(r.Clusters);
        Assert.Equal(1, r.Clusters[0].Outcomes);
    }

    [Fact]
    public void Minimal_s1_counterexample_needs_two_choices_and_names_where_it_leaves_a_correct_order()
    {
        var (r, _) = ExplorationHarness.Check("usb-two-darts.dts", "K68");
        var i2 = r.Violations.First(v => v.Invariant == "I2");
        Assert.Equal(["REG(dwc3_0_dart_0)", "PROBE(usb_drd0)"], i2.Steps.Take(i2.Explicit));
        Assert.Equal(1, i2.Divergence);
        Assert.Contains("PROBE(usb_drd0)", i2.DivergenceText, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(StrategyKind.Random)]
    [InlineData(StrategyKind.Pct)]
    public void Sampling_strategies_find_s1_and_say_they_are_samples(StrategyKind strategy)
    {
        var options = new ExplorationOptions { Strategy = strategy, Budget = 200, Seed = 7 };
        var (r, _) = ExplorationHarness.Check("usb-two-darts.dts", "K68", options);
        Assert.False(r.Complete);
        Assert.Equal(200, r.Executions);
        Assert.True(r.Has("I5", "/soc/usb@382280000"));
        var again = ExplorationHarness.Check("usb-two-darts.dts", "K68", options).Result;
        Assert.Equal(r.Traces, again.Traces);
        Assert.Equal(r.Violations.Select(v => string.Join(" ", v.Steps)), again.Violations.Select(v => string.Join(" ", v.Steps)));
    }
}
