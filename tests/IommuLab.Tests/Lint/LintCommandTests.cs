using System.Text.Json;
using IommuLab.Cli.Commands;
using IommuLab.Cli.Rendering;
using IommuLab.Firmware.Lint;
using IommuLab.Firmware.Topology;
using IommuLab.Model.Lint;
using IommuLab.Tests.Acpi;
using static IommuLab.Tests.Lint.LintSupport;

namespace IommuLab.Tests.Lint;

public sealed class LintCommandTests
{
    /// <summary>Reports with stable names (not this machine's paths), for the golden files.</summary>
    private static IReadOnlyList<LintReport> GoldenReports()
    {
        var names = new[] { "dart-isp.dts", "disabled-provider.dts", "smmu-duplicate.dts" };
        var reports = names.Select(n => Linter.LintBytes(File.ReadAllBytes(Fixture(n)), "fixtures/lint/" + n)).ToList();
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(0));
        b.Add(2, 1, IortBuilder.RootComplex(0), new Map(0, 0xffff, 0, its));
        reports.Add(Linter.LintBytes(b.Build(goodChecksum: false), "tables/bad checksum.iort"));
        return reports;
    }

    private static readonly LintRun Run0 = new(["K68", "K616"], ProblemSeverity.Error);

    private static string Render(Action<IReadOnlyList<LintReport>, LintRun, TextWriter> write, IReadOnlyList<LintReport> reports)
    {
        using var w = new StringWriter();
        write(reports, Run0, w);
        return w.ToString();
    }

    [Fact]
    public void Sarif_output_matches_the_golden_file_and_is_deterministic()
    {
        var sarif = Render(LintSarif.Write, GoldenReports());
        Assert.Equal(sarif, Render(LintSarif.Write, GoldenReports()));
        AssertGolden("lint.golden.sarif", sarif);
    }

    [Fact]
    public void Sarif_output_has_every_property_sarif_2_1_0_requires_and_locations_for_each_finding()
    {
        var reports = GoldenReports();
        using var doc = JsonDocument.Parse(Render(LintSarif.Write, reports));
        var root = doc.RootElement;
        Assert.Equal("https://json.schemastore.org/sarif-2.1.0.json", root.GetProperty("$schema").GetString());
        Assert.Equal("2.1.0", root.GetProperty("version").GetString());
        var run = Assert.Single(root.GetProperty("runs").EnumerateArray());
        var driver = run.GetProperty("tool").GetProperty("driver");
        Assert.Equal("iommulab lint", driver.GetProperty("name").GetString());
        // informationUri is optional in SARIF 2.1.0; the project has no public URL to name.
        Assert.False(driver.TryGetProperty("informationUri", out _));
        Assert.False(string.IsNullOrEmpty(driver.GetProperty("version").GetString()));
        var rules = driver.GetProperty("rules").EnumerateArray().ToList();
        Assert.Equal(Linter.Rules.Select(r => r.Id), rules.Select(r => r.GetProperty("id").GetString()));
        Assert.All(rules, r =>
        {
            Assert.False(string.IsNullOrEmpty(r.GetProperty("shortDescription").GetProperty("text").GetString()));
            Assert.Contains(r.GetProperty("defaultConfiguration").GetProperty("level").GetString(), new[] { "error", "warning", "note" });
        });

        var findings = reports.SelectMany(r => r.Findings).ToList();
        var results = run.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(findings.Count, results.Count);
        for (var i = 0; i < results.Count; i++)
        {
            var r = results[i];
            var f = findings[i];
            Assert.Equal(f.RuleId, r.GetProperty("ruleId").GetString());
            Assert.Equal(f.RuleId, rules[r.GetProperty("ruleIndex").GetInt32()].GetProperty("id").GetString());
            Assert.Equal(f.Severity switch { ProblemSeverity.Error => "error", ProblemSeverity.Warning => "warning", _ => "note" }, r.GetProperty("level").GetString());
            Assert.StartsWith(f.Message, r.GetProperty("message").GetProperty("text").GetString(), StringComparison.Ordinal);
            var location = Assert.Single(r.GetProperty("locations").EnumerateArray());
            var uri = location.GetProperty("physicalLocation").GetProperty("artifactLocation").GetProperty("uri").GetString();
            Assert.True(Uri.IsWellFormedUriString(uri, UriKind.RelativeOrAbsolute), uri);
            if (f.Path is not null)
            {
                Assert.Equal(f.Path, Assert.Single(location.GetProperty("logicalLocations").EnumerateArray()).GetProperty("fullyQualifiedName").GetString());
            }
            else
            {
                Assert.Equal(f.Offset, location.GetProperty("physicalLocation").GetProperty("region").GetProperty("byteOffset").GetInt64());
            }
        }

        Assert.Contains(results, r => r.GetProperty("locations")[0].GetProperty("physicalLocation").GetProperty("artifactLocation").GetProperty("uri").GetString()
            == "tables/bad%20checksum.iort");
    }

    [Fact]
    public void Json_output_lists_every_file_with_its_findings_and_a_summary()
    {
        var reports = GoldenReports();
        using var doc = JsonDocument.Parse(Render(LintJson.Write, reports));
        var root = doc.RootElement;
        Assert.Equal(1, root.GetProperty("schemaVersion").GetInt32());
        Assert.Equal(["K68", "K616"], root.GetProperty("profiles").EnumerateArray().Select(p => p.GetString()));
        Assert.Equal("error", root.GetProperty("failOn").GetString());
        var summary = root.GetProperty("summary");
        Assert.Equal(4, summary.GetProperty("files").GetInt32());
        Assert.Equal(reports.Sum(r => r.Findings.Count(f => f.Severity == ProblemSeverity.Warning)), summary.GetProperty("warnings").GetInt32());
        var files = root.GetProperty("files").EnumerateArray().ToList();
        Assert.Equal(["dts", "dts", "dts", "iort"], files.Select(f => f.GetProperty("kind").GetString()));
        var finding = files[1].GetProperty("findings")[0];
        Assert.Equal(
            ["ruleId", "severity", "path", "offset", "message", "fix"],
            finding.EnumerateObject().Select(p => p.Name));
        Assert.Equal("/dma@3000", finding.GetProperty("path").GetString());
        Assert.Equal(JsonValueKind.Null, finding.GetProperty("offset").ValueKind);
        Assert.Equal(9, files[3].GetProperty("findings")[0].GetProperty("offset").GetInt64());
    }

    [Fact]
    public void Text_output_prints_file_location_severity_rule_message_and_the_fix_on_the_next_line()
    {
        var (exit, stdout, stderr) = Run(Fixture("disabled-provider.dts"));
        Assert.Equal(LintCommand.ExitClean, exit);
        Assert.Equal("", stderr);
        Assert.Equal(
            $"{Fixture("disabled-provider.dts")}: /dma@3000: warning [iommus-disabled-provider] enabled consumer references disabled provider /iommu@2000 at "
            + "iommus[0]: of_iommu_xlate() returns -ENODEV there and the entries after it are not translated\n"
            + "    fix: enable /iommu@2000 (status = \"okay\"), drop it from iommus, or disable the consumer\n"
            + "lint: 1 file(s), 0 error(s), 1 warning(s), 0 info; profiles K66, K67, K68, K611, K615, K616, JGG2, JGG2+F1, JGG2+F1+HF2, JGG2+F1+AD; fail on error\n",
            stdout);
    }

    [Theory]
    [InlineData("disabled-provider.dts", "error", 0)]
    [InlineData("disabled-provider.dts", "warning", 1)]
    [InlineData("dart-params.dts", "error", 1)]
    [InlineData("dart-isp.dts", "warning", 1)]
    [InlineData("dart-isp.dts", "error", 0)]
    public void Exit_code_is_1_only_when_a_finding_reaches_fail_on(string fixture, string failOn, int expected)
    {
        Assert.Equal(expected, Run(Fixture(fixture), "--fail-on", failOn).Exit);
    }

    [Fact]
    public void A_profile_narrows_the_per_profile_rules_and_turns_the_isp_gang_into_errors()
    {
        Assert.Equal(0, Run(Fixture("dart-isp.dts"), "--profile", "K616").Exit);
        var (exit, stdout, _) = Run(Fixture("dart-isp.dts"), "--profile", "K68", "--format", "json");
        Assert.Equal(1, exit);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(2, doc.RootElement.GetProperty("summary").GetProperty("errors").GetInt32());
    }

    [Theory]
    [InlineData("--profile", "K99")]
    [InlineData("--fail-on", "fatal")]
    [InlineData("--format", "xml")]
    [InlineData("--jobs", "0")]
    public void Bad_options_exit_2(string option, string value)
    {
        Assert.Equal(2, Run(Fixture("dart-isp.dts"), option, value).Exit);
    }

    [Fact]
    public void A_missing_input_or_unknown_example_exits_2_naming_it()
    {
        var (exit, _, stderr) = Run("/nonexistent/board.dtb");
        Assert.Equal(2, exit);
        Assert.Equal("iommulab lint: /nonexistent/board.dtb: file: expected a file or a directory, found no such file or directory\n", stderr);
        Assert.Equal(2, Run("example:no-such-board").Exit);
    }

    [Fact]
    public void The_built_in_example_lints_with_its_findings_and_exit_0_at_the_default_threshold()
    {
        var (exit, stdout, _) = Run("example:t8103-asahi", "--format", "json");
        Assert.Equal(0, exit);
        using var doc = JsonDocument.Parse(stdout);
        var file = doc.RootElement.GetProperty("files")[0];
        Assert.Equal("example:t8103-asahi", file.GetProperty("file").GetString());
        Assert.Contains(file.GetProperty("findings").EnumerateArray(), f => f.GetProperty("ruleId").GetString() == "iommus-multi-instance");
    }

    [Fact]
    public void A_directory_is_linted_recursively_in_order_keeping_going_past_unreadable_files()
    {
        var dir = Directory.CreateTempSubdirectory("iommulab-lint-dir");
        try
        {
            Directory.CreateDirectory(Path.Combine(dir.FullName, "b", "nested"));
            File.Copy(Fixture("disabled-provider.dts"), Path.Combine(dir.FullName, "b", "nested", "z.dts"));
            File.Copy(Fixture("entries-ignored.dts"), Path.Combine(dir.FullName, "a.dts"));
            File.WriteAllBytes(Path.Combine(dir.FullName, "b", "broken.dtb"), [0xd0, 0x0d, 0xfe, 0xed, 0, 0, 0, 8]);
            var b = new IortBuilder();
            b.Add(0, 0, IortBuilder.Its(0));
            File.WriteAllBytes(Path.Combine(dir.FullName, "b", "IORT.dat"), b.Build());
            File.WriteAllText(Path.Combine(dir.FullName, "README.txt"), "not firmware");
            File.WriteAllText(Path.Combine(dir.FullName, "board.dtsi"), "/ { };");

            var files = LintInputs.Expand([dir.FullName]);
            Assert.Equal(
                ["a.dts", "b/IORT.dat", "b/broken.dtb", "b/nested/z.dts"],
                files.Select(f => Path.GetRelativePath(dir.FullName, f).Replace('\\', '/')));

            var (exit, stdout, _) = Run(dir.FullName, "--format", "json", "--jobs", "3");
            Assert.Equal(1, exit);
            using var doc = JsonDocument.Parse(stdout);
            Assert.Equal(
                ["dts", "iort", "unreadable", "dts"],
                doc.RootElement.GetProperty("files").EnumerateArray().Select(f => f.GetProperty("kind").GetString()));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Linting_in_parallel_gives_the_same_reports_in_input_order_as_linting_one_by_one()
    {
        var fixtures = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Fixtures", "lint")).Order(StringComparer.Ordinal).ToList();
        var inputs = Enumerable.Range(0, 8).SelectMany(_ => fixtures).ToList();
        var serial = inputs.Select(f => Linter.LintFile(f)).ToList();
        var parallel = Linter.LintMany(inputs, f => Linter.LintFile(f), 8);
        Assert.Equal(serial.Count, parallel.Count);
        for (var i = 0; i < serial.Count; i++)
        {
            Assert.Equal(serial[i].File, parallel[i].File);
            Assert.Equal(serial[i].Findings, parallel[i].Findings);
        }
    }
}
