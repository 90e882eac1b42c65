using IommuLab.Model.Exploration;
using IommuLab.Model.Kernel;
using IommuLab.Tests.Kernel;
using IommuLab.Tests.Support;

namespace IommuLab.Tests.Exploration;

/// <summary>
/// Cluster decomposition is sound: on every fixture small enough to explore as one system, exploring the clusters
/// separately finds exactly the violations that exploring the whole platform finds.
/// </summary>
public sealed class ClusterSoundnessTests
{
    /// <summary>Consumer shapes of spec §5.6, each with its own DARTs (no instance shared between shapes).</summary>
    private static readonly Dictionary<string, string> Shapes = new()
    {
        // S5: the second DART is disabled, so K66-K68 keep a DART-A-only fwspec/cfg after the probe.
        ["s5"] = """
                    s5_dart_a: iommu@100000 { compatible = "apple,t8103-dart"; reg = <0x0 0x100000 0x0 0x4000>; #iommu-cells = <1>; };
                    s5_dart_b: iommu@108000 { status = "disabled"; compatible = "apple,t8103-dart"; reg = <0x0 0x108000 0x0 0x4000>; #iommu-cells = <1>; };
                    s5_usb: usb@10c000 { compatible = "apple,t8103-dwc3"; reg = <0x0 0x10c000 0x0 0x1000>; iommus = <&s5_dart_a 0>, <&s5_dart_b 1>; };

            """,
        // One consumer behind one DART.
        ["single"] = """
                    one_dart: iommu@200000 { compatible = "apple,t8103-dart"; reg = <0x0 0x200000 0x0 0x4000>; #iommu-cells = <1>; };
                    one_dcp: dcp@20c000 { compatible = "apple,dcp"; reg = <0x0 0x20c000 0x0 0x1000>; iommus = <&one_dart 0>; };

            """,
        // S1/S2: one consumer behind two ganged DARTs.
        ["gang"] = """
                    gang_dart_a: iommu@300000 { compatible = "apple,t8103-dart"; reg = <0x0 0x300000 0x0 0x4000>; #iommu-cells = <1>; };
                    gang_dart_b: iommu@308000 { compatible = "apple,t8103-dart"; reg = <0x0 0x308000 0x0 0x4000>; #iommu-cells = <1>; };
                    gang_usb: usb@30c000 { compatible = "apple,t8103-dwc3"; reg = <0x0 0x30c000 0x0 0x1000>; iommus = <&gang_dart_a 0>, <&gang_dart_b 1>; };

            """,
        // S4: the second DART's driver never probes it (an instance that fails its probe).
        ["s4"] = """
                    s4_dart_a: iommu@400000 { compatible = "apple,t8103-dart"; reg = <0x0 0x400000 0x0 0x4000>; #iommu-cells = <1>; };
                    s4_dart_b: iommu@408000 { compatible = "apple,t8103-dart"; reg = <0x0 0x408000 0x0 0x4000>; #iommu-cells = <1>; };
                    s4_isp: isp@40c000 { compatible = "apple,t8103-isp"; reg = <0x0 0x40c000 0x0 0x1000>; iommus = <&s4_dart_a 0>, <&s4_dart_b 1>; };

            """,
    };

    internal static Platform Combine(IReadOnlyList<string> knobs, params string[] shapes)
    {
        return SocTree.Platform(string.Concat(shapes.Select(s => Shapes[s])), $"{string.Join("+", shapes)}.dts", knobs);
    }

    private static SortedSet<string> Violations(ProfileResult r) =>
        new(r.Violations.Select(v => $"{v.Invariant} {v.Device} {v.Message}"), StringComparer.Ordinal);

    private static void AssertSameViolations(Platform platform, string profile)
    {
        var p = KernelRun.Profile(profile);
        var split = Explorer.Check(platform, p, new ExplorationOptions { Minimize = false });
        var whole = Explorer.Check(platform, p, new ExplorationOptions { Decompose = false, Minimize = false, Budget = 200_000 });
        Assert.True(whole.Complete, "fixture too large to explore as one system");
        Assert.True(split.Complete);
        Assert.Equal(Violations(whole), Violations(split));
    }

    public static TheoryData<string, string> Combinations()
    {
        var data = new TheoryData<string, string>();
        foreach (var combo in new[] { "s5+single", "single+s5", "s4+single" })
        {
            foreach (var profile in new[] { "K66", "K67", "K68", "K611", "K615", "K616", "JGG2+F1" })
            {
                data.Add(combo, profile);
            }
        }

        // Two multi-DART consumers: larger whole-platform explorations, so fewer profiles.
        foreach (var combo in new[] { "gang+single", "s5+gang" })
        {
            foreach (var profile in new[] { "K66", "K68", "K616" })
            {
                data.Add(combo, profile);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Combinations))]
    public void Decomposed_and_whole_platform_exploration_find_the_same_violations(string combo, string profile)
    {
        AssertSameViolations(Combine(combo.StartsWith("s4", StringComparison.Ordinal) ? ["s4_dart_b.probe-fails=true"] : [], combo.Split('+')), profile);
    }

    public static TheoryData<string, string> FixtureCases()
    {
        var data = new TheoryData<string, string>();
        foreach (var fixture in new[] { "usb-two-darts.dts", "single-dart.dts", "usb-second-dart-disabled.dts", "display-locked-dart.dts", "group-conflict.dts", "smmu-v3.dts", "dma-ranges.dts" })
        {
            foreach (var profile in new[] { "K66", "K68", "K611", "K616" })
            {
                data.Add(fixture, profile);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(FixtureCases))]
    public void Decomposition_of_kernel_fixtures_loses_no_violation(string fixture, string profile)
    {
        AssertSameViolations(KernelRun.Platform(fixture), profile);
    }

    /// <summary>
    /// Spec S5 "latent" attach: in K66-K68 the S5 consumer keeps a DART-A-only fwspec after binding without an
    /// IOMMU, and the next registration walk of an unrelated DART attaches it. Explored on its own the S5 cluster
    /// has no later walk; the decomposition must still find what the whole platform finds.
    /// </summary>
    [Theory]
    [InlineData("K66")]
    [InlineData("K67")]
    [InlineData("K68")]
    public void Latent_attach_by_another_clusters_walk_is_found_with_clusters(string profile)
    {
        var alone = Explorer.Check(Combine([], "s5"), KernelRun.Profile(profile), new ExplorationOptions { Minimize = false });
        var combined = Explorer.Check(Combine([], "s5", "single"), KernelRun.Profile(profile), new ExplorationOptions());
        Assert.Equal(2, Clusters.Of(Combine([], "s5", "single")).Count);
        var gained = Violations(combined).Where(v => v.Contains("/soc/usb@10c000", StringComparison.Ordinal)).Except(Violations(alone)).ToList();
        Assert.NotEmpty(gained);
    }
}
