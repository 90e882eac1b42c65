using System.CommandLine;
using IommuLab.Cli;
using IommuLab.Cli.Commands;
using IommuLab.Tests.Kernel;

namespace IommuLab.Tests.Exploration;

public sealed class CheckCommandTests
{
    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var root = new RootCommand { CheckCommand.Create(CliApp.LoadDeviceTree), ReplayCommand.Create(CliApp.LoadDeviceTree) };
        var o = new StringWriter();
        var e = new StringWriter();
        var code = root.Parse(args).Invoke(new InvocationConfiguration { Output = o, Error = e });
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void Check_json_is_deterministic_and_traces_replay_from_the_file_alone()
    {
        var dir = Path.Combine(Path.GetTempPath(), "iommulab-check-" + Guid.NewGuid().ToString("N"));
        var fixture = KernelRun.FixturePath("usb-two-darts.dts");
        var a = Cli("check", fixture, "--profile", "K68", "--format", "json", "--traces", dir);
        var b = Cli("check", fixture, "--profile", "K68", "--format", "json", "--traces", dir);
        Assert.Equal(1, a.Code);
        Assert.Equal(a.Out, b.Out);
        Assert.Contains("\"verdict\": \"violation\"", a.Out, StringComparison.Ordinal);
        Assert.Contains("\"complete\": true", a.Out, StringComparison.Ordinal);
        foreach (var trace in Directory.GetFiles(dir, "*.json"))
        {
            var r = Cli("replay", trace);
            Assert.Equal(1, r.Code);
            Assert.Contains("reproduced", r.Out, StringComparison.Ordinal);
            Assert.DoesNotContain("NOT reproduced", r.Out, StringComparison.Ordinal);
        }

        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void Check_exits_0_when_clean_and_2_on_bad_input()
    {
        Assert.Equal(0, Cli("check", KernelRun.FixturePath("usb-two-darts.dts"), "--profile", "K615").Code);
        Assert.Equal(2, Cli("check", "no-such-file.dts").Code);
        Assert.Equal(2, Cli("check", KernelRun.FixturePath("usb-two-darts.dts"), "--profile", "K99").Code);
    }

    [Fact]
    public void Default_check_on_the_asahi_example_names_the_breaking_kernels_and_their_schedule()
    {
        var o = new StringWriter();
        var code = CheckCommand.RunDefault(o, CliApp.LoadDeviceTree, showTime: false);
        var text = o.ToString();
        Assert.Equal(1, code);
        Assert.Contains("I5 /display-subsystem", text, StringComparison.Ordinal);
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(text, @"K615\s+ok"), text);
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(text, @"K68\s+violation"), text);
    }
}
