using IommuLab.Cli.Rendering;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.Topology;
using static IommuLab.Tests.Lint.LintSupport;

namespace IommuLab.Tests.Lint;

/// <summary>topology --format svg through Graphviz dot (CI installs graphviz; these tests need it on PATH).</summary>
public sealed class GraphvizTests
{
    private static IommuTopology Topology(string fixture) => IommuTopology.Decode(DeviceTreeLoader.LoadFile(Fixture(fixture)));

    [Fact]
    public void Svg_of_a_topology_shows_providers_consumers_stream_id_edges_and_greys_disabled_nodes()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = TopologySvg.Write(Topology("disabled-provider.dts"), output, error);
        Assert.True(exit == 0, $"dot failed: {error} (CI must install graphviz)");
        var svg = output.ToString();
        Assert.Contains("<svg", svg, StringComparison.Ordinal);
        Assert.Contains("<title>/iommu@1000</title>", svg, StringComparison.Ordinal);
        Assert.Contains("<title>/dma@3000&#45;&gt;/iommu@2000</title>", svg, StringComparison.Ordinal);
        Assert.Contains("[0] &lt;5&gt;", svg, StringComparison.Ordinal);
        Assert.Contains("fill=\"#eeeeee\"", svg, StringComparison.Ordinal);
        Assert.Equal("", error.ToString());
    }

    [Fact]
    public void A_missing_dot_is_a_clear_message_and_exit_2()
    {
        Assert.False(Graphviz.TryRenderSvg("digraph { a -> b }", "/nonexistent/bin/dot", out var svg, out var message));
        Assert.Equal("", svg);
        Assert.Equal("Graphviz 'dot' not found: apt-get install graphviz", message);

        using var output = new StringWriter();
        using var error = new StringWriter();
        Assert.Equal(2, TopologySvg.Write(Topology("disabled-provider.dts"), output, error, "/nonexistent/bin/dot"));
        Assert.Equal("", output.ToString());
        Assert.Equal("iommulab topology: Graphviz 'dot' not found: apt-get install graphviz\n", error.ToString());
    }

    [Fact]
    public void A_graph_dot_rejects_is_reported_with_dots_own_message()
    {
        Assert.False(Graphviz.TryRenderSvg("digraph {", out _, out var message));
        Assert.StartsWith("Graphviz 'dot' failed (exit 1): ", message, StringComparison.Ordinal);
    }
}
