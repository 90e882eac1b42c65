using System.CommandLine;
using System.Text.Json;
using IommuLab.Cli;
using IommuLab.Cli.Commands;
using IommuLab.Tests.Kernel;

namespace IommuLab.Tests.Exploration;

/// <summary>The `check` and `replay` commands: output shapes (issue 4), exit codes, seeds, trace files.</summary>
public sealed class CheckCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "iommulab-checkcli-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        // The real entry point: its parse-error handling decides the usage exit code (2).
        var o = new StringWriter();
        var e = new StringWriter();
        var code = CliApp.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static string Fixture(string name) => KernelRun.FixturePath(name);

    [Fact]
    public void Json_report_has_the_documented_shape_with_one_entry_per_profile_and_per_violation()
    {
        var (code, json, _) = Cli("check", Fixture("usb-two-darts.dts"), "--profile", "all", "--format", "json", "--traces", _dir);
        Assert.Equal(1, code);
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal(Fixture("usb-two-darts.dts"), root.GetProperty("input").GetString());
        var profiles = root.GetProperty("profiles").EnumerateArray().ToList();
        Assert.Equal(Model.Kernel.Profiles.All.Count, profiles.Count);
        foreach (var p in profiles)
        {
            Assert.Contains(p.GetProperty("verdict").GetString(), new[] { "ok", "violation" });
            Assert.Equal("exhaustive", p.GetProperty("strategy").GetString());
            Assert.True(p.GetProperty("complete").GetBoolean());
            Assert.True(p.GetProperty("executions").GetInt32() > 0);
            var violations = p.GetProperty("violations").EnumerateArray().ToList();
            Assert.Equal(violations.Count == 0 ? "ok" : "violation", p.GetProperty("verdict").GetString());
            foreach (var v in violations)
            {
                Assert.Matches("^I(DMA|[0-9]+)$", v.GetProperty("invariant").GetString()!);
                Assert.StartsWith("/", v.GetProperty("device").GetString(), StringComparison.Ordinal);
                Assert.False(string.IsNullOrEmpty(v.GetProperty("message").GetString()));
                Assert.True(File.Exists(Path.Combine(_dir, v.GetProperty("trace").GetString()!)));
            }
        }

        var k68 = profiles.Single(p => p.GetProperty("profile").GetString() == "K68");
        Assert.Contains(k68.GetProperty("violations").EnumerateArray(), v => v.GetProperty("invariant").GetString() == "I5" && v.GetProperty("device").GetString() == "/soc/usb@382280000");
    }

    [Fact]
    public void Text_report_is_a_verdict_table_then_each_violation_with_its_schedule()
    {
        var (code, text, _) = Cli("check", Fixture("usb-two-darts.dts"), "--profile", "K68");
        Assert.Equal(1, code);
        Assert.Matches(@"profile\s+verdict\s+result\s+executions\s+traces\s+violations", text);
        Assert.Matches(@"K68\s+violation\s+proof\s+\d+\s+\d+\s+\S*I5", text);
        Assert.Contains("I5 /soc/usb@382280000", text, StringComparison.Ordinal);
        Assert.Contains("shortest schedule", text, StringComparison.Ordinal);
        Assert.Equal(text, Cli("check", Fixture("usb-two-darts.dts"), "--profile", "K68").Out);
    }

    [Theory]
    [InlineData("random")]
    [InlineData("pct")]
    public void Sampling_strategies_are_reported_as_samples_and_a_seed_makes_them_repeatable(string strategy)
    {
        var a = Cli("check", Fixture("usb-two-darts.dts"), "--profile", "K68", "--strategy", strategy, "--budget", "60", "--seed", "11", "--format", "json");
        var b = Cli("check", Fixture("usb-two-darts.dts"), "--profile", "K68", "--strategy", strategy, "--budget", "60", "--seed", "11", "--format", "json");
        Assert.Equal(a.Out, b.Out);
        using var doc = JsonDocument.Parse(a.Out);
        var p = doc.RootElement.GetProperty("profiles")[0];
        Assert.Equal(strategy, p.GetProperty("strategy").GetString());
        Assert.False(p.GetProperty("complete").GetBoolean());
        Assert.Equal(11, p.GetProperty("seed").GetInt32());
        Assert.Equal(60, p.GetProperty("executions").GetInt32());
        var text = Cli("check", Fixture("usb-two-darts.dts"), "--profile", "K68", "--strategy", strategy, "--budget", "60", "--seed", "11").Out;
        Assert.Matches(@"K68\s+\S+\s+sample", text);
    }

    [Fact]
    public void Usage_errors_exit_2()
    {
        Assert.Equal(2, Cli("check", Fixture("usb-two-darts.dts"), "--strategy", "bfs").Code);
        Assert.Equal(2, Cli("check", Fixture("usb-two-darts.dts"), "--format", "xml").Code);
        Assert.Equal(2, Cli("check", Fixture("usb-two-darts.dts"), "--budget", "0").Code);
    }

    [Fact]
    public void Replay_of_a_written_trace_reproduces_in_text_and_json()
    {
        Assert.Equal(1, Cli("check", Fixture("usb-two-darts.dts"), "--profile", "K68", "--traces", _dir).Code);
        var trace = Directory.GetFiles(_dir, "K68-I5-*.json").OrderBy(f => f, StringComparer.Ordinal).First();
        var text = Cli("replay", trace);
        Assert.Equal(1, text.Code);
        Assert.Contains("reproduced", text.Out, StringComparison.Ordinal);
        Assert.Contains("PROBE(usb_drd0)", text.Out, StringComparison.Ordinal);
        var json = Cli("replay", trace, "--format", "json");
        Assert.Equal(1, json.Code);
        using var doc = JsonDocument.Parse(json.Out);
        Assert.True(doc.RootElement.GetProperty("reproduced").GetBoolean());
        Assert.Equal("I5", doc.RootElement.GetProperty("invariant").GetString());
        Assert.Contains(doc.RootElement.GetProperty("steps").EnumerateArray(), s => s.GetProperty("step").GetString() == "PROBE(usb_drd0)");
    }

    [Fact]
    public void Replay_refuses_a_trace_whose_input_changed()
    {
        var copy = Path.Combine(_dir, "fixture.dts");
        Directory.CreateDirectory(_dir);
        File.Copy(Fixture("usb-two-darts.dts"), copy);
        Assert.Equal(1, Cli("check", copy, "--profile", "K68", "--traces", _dir).Code);
        var trace = Directory.GetFiles(_dir, "K68-*.json").First();
        File.AppendAllText(copy, "\n// edited\n");
        var r = Cli("replay", trace);
        Assert.Equal(2, r.Code);
    }

    [Fact]
    public void Traces_of_the_new_add_and_timeout_events_replay_from_their_files()
    {
        Assert.Equal(1, Cli("check", Fixture("pcie-iommu-map.dts"), "--profile", "K68", "--traces", _dir, "--format", "json").Code);
        Assert.Equal(1, Cli("check", Fixture("single-dart.dts"), "--profile", "K68", "--knob", "dcp_dart.module-after-timeout=1", "--traces", _dir).Code);
        var files = Directory.GetFiles(_dir, "*.json");
        Assert.Contains(files, f => File.ReadAllText(f).Contains("\"TIMEOUT\"", StringComparison.Ordinal));
        Assert.Contains(files, f => File.ReadAllText(f).Contains("\"ADD(", StringComparison.Ordinal));
        foreach (var f in files)
        {
            var r = Cli("replay", f, "--format", "json");
            Assert.Equal(1, r.Code);
            using var doc = JsonDocument.Parse(r.Out);
            Assert.True(doc.RootElement.GetProperty("reproduced").GetBoolean(), f);
        }
    }
}
