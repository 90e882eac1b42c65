using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IommuLab.Cli.Commands;
using IommuLab.Cli.Rendering;
using IommuLab.Firmware.Lint;
using IommuLab.Firmware.Topology;
using IommuLab.Model.Kernel;
using IommuLab.Model.Scan;
using IommuLab.Tests.Support;
using Xunit.Abstractions;

namespace IommuLab.Tests.Scan;

/// <summary>
/// One scan of the whole shared corpus (sid, Apple and QEMU DTBs, every IORT/VIOT table) under every profile,
/// shared by the corpus tests below. Budgets: exhaustive up to <see cref="Budget"/> executions per cluster, else a
/// sample of <see cref="Sample"/> random executions (seed 0); they keep the scan to minutes on 2 cores.
/// </summary>
public sealed class CorpusScan
{
    public const int Budget = 50;
    public const int Sample = 10;

    /// <summary>Scans <paramref name="files"/> under <paramref name="run"/> and renders text, JSON and CSV with <paramref name="shown"/> as the options printed.</summary>
    public static string Render(IReadOnlyList<string> files, ScanOptions run, ScanOptions shown, ScanCache? cache = null)
    {
        var report = ScanCommand.Execute(files, run, ScanCommand.ProgressKind.None, TextWriter.Null, cache);
        var b = new StringBuilder();
        using (var w = new StringWriter(b))
        {
            ScanText.Write(w, report with { Options = shown }, showTime: false, top: 10);
            ScanJson.Write(w, report with { Options = shown });
            ScanCsv.Write(w, report);
        }

        return b.ToString();
    }

    public CorpusScan()
    {
        Files = [.. Corpus.AllDtbs, .. LintInputs.Expand([Path.Combine(Corpus.Root, "iort")])];
        Options = new ScanOptions { ExhaustiveBudget = Budget, SampleBudget = Sample };
        var sw = Stopwatch.StartNew();
        var results = ScanRunner.Run(Files, Options);
        Elapsed = sw.Elapsed;

        // Paths relative to the corpus (the tarballs unpack under a temp folder named by their hash).
        Results = [.. results.Select(r => r with { Path = Relative(r.Path), Error = r.Error?.Replace(r.Path, Relative(r.Path), StringComparison.Ordinal) })];
        Report = new ScanCommand.ScanReport(Options, Results, ScanSummary.Of(Results, [.. Options.Profiles.Select(p => p.Name)]));
    }

    public IReadOnlyList<string> Files { get; }

    public ScanOptions Options { get; }

    public IReadOnlyList<ScanFileResult> Results { get; }

    public ScanCommand.ScanReport Report { get; }

    public TimeSpan Elapsed { get; }

    /// <summary>"sid/qcom/x.dtb", "apple/t8103-j274.dtb", or the path under the corpus folder.</summary>
    public static string Relative(string path)
    {
        foreach (var (prefix, list) in new[] { ("sid", Corpus.SidDtbs), ("apple", Corpus.AppleDtbs) })
        {
            var root = Common(list);
            if (path.StartsWith(root, StringComparison.Ordinal))
            {
                return prefix + "/" + path[root.Length..].TrimStart('/');
            }
        }

        return Path.GetRelativePath(Corpus.Root, path).Replace('\\', '/');
    }

    private static string Common(IReadOnlyList<string> paths)
    {
        // The extraction folder: every DTB of the tarball lies under it.
        var dir = Path.GetDirectoryName(paths[0])!;
        while (!paths.All(p => p.StartsWith(dir + Path.DirectorySeparatorChar, StringComparison.Ordinal)))
        {
            dir = Path.GetDirectoryName(dir)!;
        }

        return dir;
    }
}

/// <summary>
/// The corpus figures: the whole-corpus scan summary must equal the one recorded in corpus-scan-summary.json (a
/// changed figure is explained in the commit that changes it), and the known facts are found.
/// </summary>
public sealed class ScanCorpusTests(CorpusScan scan, ITestOutputHelper output) : IClassFixture<CorpusScan>
{
    /// <summary>The recorded figures, read from the source tree (they are not copied to the build output).</summary>
    private static string RecordedPath
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            {
                var candidate = Path.Combine(d.FullName, "tests", "IommuLab.Tests", "Scan", "corpus-scan-summary.json");
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }

            throw new FileNotFoundException("tests/IommuLab.Tests/Scan/corpus-scan-summary.json not found above " + AppContext.BaseDirectory);
        }
    }

    private const int TopPatterns = 20;

    /// <summary>The recorded part of the report: options and summary as `scan --format json` writes them, the top patterns only.</summary>
    public static JsonObject Figures(ScanCommand.ScanReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        using var w = new StringWriter();
        ScanJson.Write(w, report);
        var all = JsonNode.Parse(w.ToString())!.AsObject();
        foreach (var profile in all["summary"]!["profiles"]!.AsArray())
        {
            var patterns = profile!["patterns"]!.AsArray();
            while (patterns.Count > TopPatterns)
            {
                patterns.RemoveAt(patterns.Count - 1);
            }
        }

        return new JsonObject
        {
            ["options"] = all["options"]!.DeepClone(),
            ["summary"] = all["summary"]!.DeepClone(),
        };
    }

    [Fact]
    [Trait("Category", "Corpus")]
    public void The_whole_corpus_scan_gives_the_recorded_figures()
    {
        output.WriteLine($"scan: {scan.Files.Count} files under {scan.Options.Profiles.Count} profiles in {scan.Elapsed.TotalSeconds:F1} s on {Environment.ProcessorCount} cores");
        var indented = new JsonSerializerOptions { WriteIndented = true };
        var actual = Figures(scan.Report).ToJsonString(indented);
        var recorded = JsonNode.Parse(File.ReadAllText(RecordedPath))!.AsObject();
        recorded.Remove("note");
        var expected = recorded.ToJsonString(indented);
        if (actual != expected)
        {
            var file = Path.Combine(Path.GetTempPath(), "iommulab-corpus-scan-summary.actual.json");
            var note = JsonNode.Parse(File.ReadAllText(RecordedPath))!["note"]!.DeepClone();
            var withNote = Figures(scan.Report);
            withNote.Insert(0, "note", note);
            File.WriteAllText(file, withNote.ToJsonString(indented) + "\n");
            var a = actual.Split('\n');
            var e = expected.Split('\n');
            var i = 0;
            while (i < a.Length && i < e.Length && a[i] == e[i])
            {
                i++;
            }

            Assert.Fail($"the corpus figures changed (first difference at line {i + 1}: recorded '{(i < e.Length ? e[i].Trim() : "")}', now '{(i < a.Length ? a[i].Trim() : "")}'). "
                + $"The new figures are in {file}: if the change is intended, copy it over tests/IommuLab.Tests/Scan/corpus-scan-summary.json and explain every changed figure in the commit.");
        }
    }

    [Fact]
    [Trait("Category", "Corpus")]
    public void The_80_apple_two_dart_and_6_exynos5433_multi_sysmmu_consumers_are_found_and_the_apple_ones_break_the_pre_6_11_kernels()
    {
        var apple = scan.Results.Where(r => r.Path.StartsWith("apple/", StringComparison.Ordinal)).SelectMany(r => r.MultiInstance.Select(m => (r.Path, m.Device, m.Pattern))).ToList();
        Assert.Equal(80, apple.Count);
        Assert.All(apple, m => Assert.Matches(@"^apple,t\d+-(dwc3|admac) with 2 x apple,t\d+-dart$", m.Pattern));
        Assert.Equal(80, scan.Results.Where(r => r.Path.StartsWith("apple/", StringComparison.Ordinal)).Sum(r => r.Lint.Count(l => l.RuleId == FirmwareLintRules.MultiInstance)));

        var sid = scan.Results.Where(r => r.Path.StartsWith("sid/", StringComparison.Ordinal)).SelectMany(r => r.MultiInstance.Select(m => (r.Path, m.Device, m.Pattern))).ToList();
        Assert.Equal(6, sid.Count);
        Assert.All(sid, m => Assert.Contains("exynos5433", m.Path, StringComparison.Ordinal));
        Assert.All(sid, m => Assert.Matches(@"^samsung,exynos5433-(decon|decon-tv|mfc) with 2 x samsung,exynos-sysmmu$", m.Pattern));

        // Under the kernels before the v6.11 rework (and JGG2 without its fix) every Apple two-DART consumer
        // ends up in a group that covers only one of its DARTs in some order (I2).
        foreach (var profile in new[] { "K66", "K67", "K68", "JGG2" })
        {
            var broken = scan.Results
                .Where(r => r.Path.StartsWith("apple/", StringComparison.Ordinal))
                .SelectMany(r => r.Profiles.Single(p => p.Profile == profile).Violations.Where(v => v.Invariant == "I2").Select(v => (r.Path, v.Device)))
                .Distinct()
                .ToHashSet();
            Assert.True(apple.All(m => broken.Contains((m.Path, m.Device))), $"{profile}: {broken.Count} of the 80 break I2");
        }
    }

    [Fact]
    [Trait("Category", "Corpus")]
    public void The_100_enabled_consumers_of_disabled_providers_in_the_sid_corpus_are_linted_by_the_scan()
    {
        var findings = scan.Results
            .Where(r => r.Path.StartsWith("sid/", StringComparison.Ordinal))
            .SelectMany(r => r.Lint.Where(l => l.RuleId == TopologyRules.IommusDisabledProvider).Select(l => (r.Path, l.Location)))
            .ToList();
        Assert.Equal(100, findings.Distinct().Count());
        Assert.Equal(119, findings.Count);
    }

    [Fact]
    [Trait("Category", "Corpus")]
    public void Every_file_is_scanned_and_only_the_damaged_laptop_table_is_unreadable()
    {
        Assert.Equal(1649 + 97 + 3 + 37, scan.Results.Count);
        var unreadable = Assert.Single(scan.Results, r => r.Kind == ScanInputKind.Unreadable);
        Assert.Equal("iort/malformed/microsoft-surface-pro-12-in.iort.dat", unreadable.Path);
        Assert.Contains("offset 0x4", unreadable.Error, StringComparison.Ordinal);
        Assert.All(scan.Results.Where(r => r.Kind != ScanInputKind.Unreadable), r => Assert.Equal(scan.Options.Profiles.Count, r.Profiles.Count));
    }
}

/// <summary>Issue 9's determinism bullet for scan: the same corpus subset gives the same bytes with 1 job or many, run after run.</summary>
public sealed class ScanDeterminismCorpusTests
{
    [Fact]
    [Trait("Category", "Corpus")]
    public void A_corpus_subset_scans_to_identical_text_and_json_with_one_job_or_many_across_two_runs()
    {
        // Every 50th sid DTB, every 10th Apple one, the QEMU trees and every ACPI table (the damaged one included).
        var files = Corpus.SidDtbs.Where((_, i) => i % 50 == 0)
            .Concat(Corpus.AppleDtbs.Where((_, i) => i % 10 == 0))
            .Concat(Corpus.QemuDtbs)
            .Concat(LintInputs.Expand([Path.Combine(Corpus.Root, "iort")]))
            .ToList();
        var options = new ScanOptions { ExhaustiveBudget = CorpusScan.Budget, SampleBudget = CorpusScan.Sample };
        string Render(int jobs) => CorpusScan.Render(files, options with { Jobs = jobs }, options);

        var many = Math.Max(4, Environment.ProcessorCount);
        var first = Render(1);
        Assert.Equal(first, Render(many));
        Assert.Equal(first, Render(1));
        Assert.Equal(first, Render(many));
        Assert.Contains("files with violations", first, StringComparison.Ordinal);
    }
}
