using IommuLab.Model.Exploration;
using IommuLab.Model.Kernel;
using IommuLab.Tests.Kernel;
using IommuLab.Tests.Support;

namespace IommuLab.Tests.Exploration;

/// <summary>Independent consumers (no shared IOMMU instance) are explored separately: their costs add up.</summary>
public sealed class ClusterTests
{
    private static string Consumers(int n) =>
        string.Concat(Enumerable.Range(0, n).Select(i => $$"""
                    dart{{i}}a: iommu@{{i}}0000 { compatible = "apple,t8103-dart"; reg = <0x0 0x{{i}}0000 0x0 0x4000>; #iommu-cells = <1>; };
                    dart{{i}}b: iommu@{{i}}8000 { compatible = "apple,t8103-dart"; reg = <0x0 0x{{i}}8000 0x0 0x4000>; #iommu-cells = <1>; };
                    usb{{i}}: usb@{{i}}c000 { compatible = "apple,t8103-dwc3"; reg = <0x0 0x{{i}}c000 0x0 0x1000>; iommus = <&dart{{i}}a 0>, <&dart{{i}}b 1>; };

            """));

    internal static Platform Platform(int consumers) => SocTree.Platform(Consumers(consumers), $"generated-{consumers}.dts");

    [Fact]
    public void Clusters_are_the_components_of_the_consumer_instance_graph()
    {
        var platform = KernelRun.Platform("usb-two-darts.dts");
        var c = Assert.Single(Clusters.Of(platform));
        Assert.Equal(2, c.Instances.Length);
        Assert.Equal(3, Clusters.Of(Platform(3)).Count);
        Assert.All(Clusters.Of(Platform(3)), x => Assert.Equal(2, x.Instances.Length));
    }

    [Theory]
    [InlineData("K68")]
    [InlineData("K616")]
    public void Adding_an_independent_consumer_adds_executions_instead_of_multiplying_them(string profile)
    {
        // From two consumers on, every cluster also runs one foreign registration (Cluster.Foreign): equal cost each.
        var two = Explorer.Check(Platform(2), KernelRun.Profile(profile), new ExplorationOptions());
        var four = Explorer.Check(Platform(4), KernelRun.Profile(profile), new ExplorationOptions());
        Assert.True(two.Complete && four.Complete);
        Assert.All(Clusters.Of(Platform(4)), c => Assert.Single(c.Foreign));
        Assert.Equal(2 * two.Executions, four.Executions);
        Assert.Equal(2 * two.Violations.Count, four.Violations.Count);

        // Explored as one system, the two consumers' orders multiply (or the budget runs out first).
        var whole = Explorer.Check(Platform(2), KernelRun.Profile(profile), new ExplorationOptions { Decompose = false, Budget = 20_000, Minimize = false });
        Assert.True(whole.Executions > two.Executions * 2, $"whole-platform exploration of two consumers ran {whole.Executions} executions");
    }
}
