using System.CommandLine;
using IommuLab.Cli;
using IommuLab.Cli.Commands;
using IommuLab.Tests.Kernel;

namespace IommuLab.Tests.Scan;

/// <summary>
/// The DOT pictures byte for byte against snapshots in Fixtures/dot. A changed picture is a reviewed change:
/// regenerate the snapshot with the command in the failure message and look at the diff.
/// </summary>
public sealed class DotSnapshotTests
{
    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var root = new RootCommand
        {
            TopologyCommand.Create(CliApp.LoadDeviceTree), CheckCommand.Create(CliApp.LoadDeviceTree), ReplayCommand.Create(CliApp.LoadDeviceTree),
        };
        var o = new StringWriter();
        var e = new StringWriter();
        var code = root.Parse(args).Invoke(new InvocationConfiguration { Output = o, Error = e });
        return (code, o.ToString(), e.ToString());
    }

    private static void Matches(string snapshot, string actual)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "dot", snapshot);
        var expected = File.ReadAllText(path);
        Assert.True(expected == actual, $"{snapshot} changed; the new text is:\n{actual}");
    }

    /// <summary>Checks FIXTURE under PROFILE, then replays its trace of INVARIANT as DOT, the input path made relative.</summary>
    private static string ReplayDot(string fixture, string profile, string invariant)
    {
        var dir = Path.Combine(Path.GetTempPath(), "iommulab-dot-" + Guid.NewGuid().ToString("N"));
        try
        {
            var input = KernelRun.FixturePath(fixture);
            Assert.Equal(1, Cli("check", input, "--profile", profile, "--traces", dir).Code);
            var trace = Directory.GetFiles(dir, $"{profile}-{invariant}-*.json").Order(StringComparer.Ordinal).First();
            var (code, dot, err) = Cli("replay", trace, "--format", "dot");
            Assert.True(code == 1, err);
            return dot.Replace(input, fixture, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Replay_dot_draws_the_group_as_a_cluster_and_the_unprogrammed_second_dart_edge_in_red()
    {
        var dot = ReplayDot("usb-two-darts.dts", "K68", "I2");
        Matches("replay-usb-two-darts-K68-I2.dot", dot);
        Assert.Contains("subgraph cluster_group_0 {", dot, StringComparison.Ordinal);
        Assert.Contains("\"/soc/usb@382280000\" -> \"/soc/iommu@382f80000\" [label=\"0x1: not programmed\", color=\"#cc0000\"", dot, StringComparison.Ordinal);
        Assert.Contains("\"/soc/usb@382280000\" -> \"/soc/iommu@382f00000\" [label=\"0x0\"];", dot, StringComparison.Ordinal);
    }

    [Fact]
    public void Topology_dot_greys_the_disabled_dart_and_its_edge()
    {
        var input = KernelRun.FixturePath("usb-second-dart-disabled.dts");
        var (code, dot, _) = Cli("topology", input, "--format", "dot");
        Assert.Equal(0, code);
        Matches("topology-usb-second-dart-disabled.dot", dot.Replace(input, "usb-second-dart-disabled.dts", StringComparison.Ordinal));
    }

    [Fact]
    public void Replay_svg_goes_through_graphviz_or_says_clearly_that_dot_is_missing()
    {
        var dir = Path.Combine(Path.GetTempPath(), "iommulab-svg-" + Guid.NewGuid().ToString("N"));
        try
        {
            Cli("check", KernelRun.FixturePath("usb-two-darts.dts"), "--profile", "K68", "--traces", dir);
            var trace = Directory.GetFiles(dir, "K68-I2-*.json").Single();
            var (code, svg, err) = Cli("replay", trace, "--format", "svg");
            if (code == 2)
            {
                Assert.Contains("Graphviz 'dot' not found", err, StringComparison.Ordinal);
            }
            else
            {
                Assert.Equal(1, code);
                Assert.Contains("<svg", svg, StringComparison.Ordinal);
                Assert.Contains("not programmed", svg, StringComparison.Ordinal);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
