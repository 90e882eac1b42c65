using System.CommandLine;
using System.Runtime.CompilerServices;
using System.Text.Json;
using IommuLab.Cli.Commands;
using IommuLab.Cli.Rendering;
using IommuLab.Firmware;

namespace IommuLab.Tests.Topology;

public sealed class TopologyCommandTests
{
    private static (int Exit, string Out, string Err) Run(params string[] args)
    {
        var root = new RootCommand("test") { TopologyCommand.Create(TopologyFixtures.Load) };
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = root.Parse(["topology", .. args]).Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
        return (exit, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void Text_report_lists_the_usb_controller_with_both_darts_in_order()
    {
        var (exit, stdout, stderr) = Run(TopologyFixtures.PathOf("apple-ganged.dts"));
        Assert.Equal(0, exit);
        Assert.Equal("", stderr);
        Assert.Contains("  /soc/usb@382280000 -> [0] /soc/iommu@382f00000 args <0>, [1] /soc/iommu@382f80000 args <1>\n", stdout, StringComparison.Ordinal);
        Assert.Contains("iommus-disabled-provider", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Problems_found_still_exit_zero_and_the_text_shows_where_the_list_ends()
    {
        var (exit, stdout, _) = Run(TopologyFixtures.PathOf("iommus-errors.dts"), "--format", "text");
        Assert.Equal(0, exit);
        Assert.Contains("list ends at [1] (cell 2): PhandleNotFound, -EINVAL: \"/unresolved@d000: could not find phandle 99\"", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Unreadable_input_exits_2_with_the_message_on_stderr_and_no_stack_trace()
    {
        var bad = Path.Combine(Path.GetTempPath(), $"iommulab-topology-bad-{Environment.ProcessId}.dtb");
        File.WriteAllBytes(bad, [0xd0, 0x0d, 0xfe, 0xed, 0, 0, 0, 8]);
        try
        {
            var (exit, stdout, stderr) = Run(bad);
            Assert.Equal(2, exit);
            Assert.Equal("", stdout);
            Assert.StartsWith($"{Path.GetFileName(bad)}: offset 0x", stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(bad);
        }
    }

    [Fact]
    public void A_missing_file_exits_2()
    {
        Assert.Equal(2, Run("/nonexistent/x.dtb").Exit);
    }

    [Fact]
    public void Dot_output_greys_the_disabled_dart_and_labels_edges_with_args()
    {
        var (exit, stdout, _) = Run(TopologyFixtures.PathOf("apple-ganged.dts"), "--format", "dot");
        Assert.Equal(0, exit);
        Assert.StartsWith("digraph iommu_topology {", stdout, StringComparison.Ordinal);
        Assert.Contains("\"/soc/usb@382280000\" -> \"/soc/iommu@382f80000\" [label=\"[1] <1>\"];", stdout, StringComparison.Ordinal);
        Assert.Matches("\"/soc/iommu@271304000\" \\[label=.*fillcolor=\"#eeeeee\"", stdout);
    }

    [Fact]
    public void Json_output_matches_the_golden_file()
    {
        var (exit, stdout, _) = Run(TopologyFixtures.PathOf("apple-ganged.dts"), "--format", "json");
        Assert.Equal(0, exit);
        using (JsonDocument.Parse(stdout))
        {
            // Valid JSON.
        }

        var golden = GoldenPath("apple-ganged.topology.json");
        if (Environment.GetEnvironmentVariable("IOMMULAB_UPDATE_SNAPSHOTS") == "1")
        {
            File.WriteAllText(golden, stdout);
        }

        Assert.Equal(File.ReadAllText(golden), stdout);
    }

    [Fact]
    public void Json_of_the_map_fixture_carries_both_readings_and_is_deterministic()
    {
        var a = TopologyJson.Serialize(TopologyFixtures.Decode("iommu-map.dts"));
        var b = TopologyJson.Serialize(TopologyFixtures.Decode("iommu-map.dts"));
        Assert.Equal(a, b);
        using var doc = JsonDocument.Parse(a);
        var user = doc.RootElement.GetProperty("mapUsers")[6];
        Assert.Equal("/pcie@10000", user.GetProperty("path").GetString());
        Assert.Equal("four-cell", user.GetProperty("readings")[0].GetProperty("layout").GetString());
        Assert.Equal("bad-length", user.GetProperty("readings")[0].GetProperty("stop").GetProperty("fault").GetString());
        Assert.Equal(2, user.GetProperty("readings")[1].GetProperty("entries")[0].GetProperty("outBase").GetArrayLength());
    }

    private static string GoldenPath(string name, [CallerFilePath] string here = "") => Path.Combine(Path.GetDirectoryName(here)!, name);
}
