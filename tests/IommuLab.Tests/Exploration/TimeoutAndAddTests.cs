using IommuLab.Model.Exploration;
using IommuLab.Tests.Kernel;

namespace IommuLab.Tests.Exploration;

/// <summary>
/// The deferred-probe timeout and PCI device add are schedule choices: "IOMMU module loaded after the timeout" and
/// "PCI function added before/after the DART registered" are explored with no schedule given; every violation
/// is replayed from its JSON trace.
/// </summary>
public sealed class TimeoutAndAddTests
{
    private static readonly string[] LateDarts = ["dwc3_0_dart_0.module-after-timeout=1", "dwc3_0_dart_1.module-after-timeout=1"];
    private static readonly string[] BuiltInDarts = [.. LateDarts, "dwc3_0_dart_0.driver=builtin", "dwc3_0_dart_1.driver=builtin"];

    /// <summary>
    /// K611 frees only the fwspec when of_iommu_configure() fails, so a consumer that the timeout binds without its
    /// second DART keeps the first DART's apple-dart cfg (spec I1: N must carry no IOMMU state).
    /// </summary>
    [Fact]
    public void Timeout_before_the_second_dart_module_loads_leaves_k611_state_on_a_device_bound_without_iommu()
    {
        var (r, _) = ExplorationHarness.CheckWith("usb-two-darts.dts", LateDarts, "K611");
        Assert.True(r.Complete);
        var i1 = Assert.Single(r.Violations, v => v.Invariant == "I1");
        var chosen = i1.Steps.Take(i1.Explicit).ToList();
        Assert.Contains("TIMEOUT", chosen);
        Assert.True(i1.Steps.ToList().IndexOf("TIMEOUT") < i1.Steps.ToList().IndexOf("REG(dwc3_0_dart_1)"));
        Assert.DoesNotContain(r.Violations, v => v.Invariant == "I5");
    }

    [Theory]
    [InlineData("K615")]
    [InlineData("K616")]
    public void From_k615_a_timeout_binds_the_device_cleanly(string profile)
    {
        var (r, _) = ExplorationHarness.CheckWith("usb-two-darts.dts", LateDarts, profile);
        Assert.True(r.Complete);
        Assert.Empty(r.Violations);
    }

    /// <summary>By default IOMMU modules load within the timeout (spec I5/I6's premise): no TIMEOUT choice, and K611 keeps no state.</summary>
    [Fact]
    public void Without_the_module_after_timeout_knob_the_timeout_is_no_choice()
    {
        var platform = KernelRun.Platform("usb-two-darts.dts", []);
        var system = new KernelSystem(platform, KernelRun.Profile("K611"), Granularity.Coarse, Clusters.Of(platform)[0]);
        Assert.DoesNotContain("timeout", new Executor().Replay(system, []).ProcessKeys);
        var (r, _) = ExplorationHarness.Check("usb-two-darts.dts", "K611");
        Assert.True(r.Complete);
        Assert.Empty(r.Violations);
    }

    [Fact]
    public void Built_in_iommu_drivers_register_before_late_initcall_so_the_timeout_is_no_choice()
    {
        var platform = KernelRun.Platform("usb-two-darts.dts", BuiltInDarts);
        var system = new KernelSystem(platform, KernelRun.Profile("K611"), Granularity.Coarse, Clusters.Of(platform)[0]);
        Assert.DoesNotContain("timeout", new Executor().Replay(system, []).ProcessKeys);
        var (r, _) = ExplorationHarness.CheckWith("usb-two-darts.dts", BuiltInDarts, "K611");
        Assert.Empty(r.Violations);
    }

    [Fact]
    public void A_pci_function_is_never_probed_before_its_add_and_add_races_the_dart_registration()
    {
        var platform = DporProofTests.Pcie(twoDarts: false);
        var system = new KernelSystem(platform, KernelRun.Profile("K68"), Granularity.Coarse, Clusters.Of(platform)[0]);
        var orders = new HashSet<string>(StringComparer.Ordinal);
        new OptimalDporStrategy(10_000).Explore(system, new Executor(), rec =>
        {
            var names = rec.StepNames.ToList();
            var add = names.IndexOf("ADD(wifi)");
            var probe = names.IndexOf("PROBE(wifi)");
            Assert.True(add >= 0 && probe > add, string.Join(" ", names));
            orders.Add(add < names.IndexOf("REG(pdart0)") ? "add first" : "reg first");
        });
        Assert.Equal(["add first", "reg first"], orders.Order(StringComparer.Ordinal));
    }
}
