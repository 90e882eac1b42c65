using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using IommuLab.Cli;
using IommuLab.Firmware.Acpi;
using IommuLab.Tests.Support;

namespace IommuLab.Tests.Robustness;

/// <summary>
/// The same input gives byte-identical output: run after run in one process, and on several threads at once
/// (no static mutable state, no dictionary-order or culture leaks).
/// </summary>
[Trait("Category", "Corpus")]
public sealed class DeterminismTests
{
    /// <summary>All Apple and QEMU boards and every 16th Debian board: DARTs, SMMUs, iommu-map and the rest.</summary>
    private static IReadOnlyList<string> Dtbs() =>
        [.. Corpus.AppleDtbs, .. Corpus.QemuDtbs, .. Corpus.SidDtbs.Where((_, i) => i % 16 == 0)];

    private static string Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = CliApp.Run(args, stdout, stderr);
        Assert.True(code == 0, $"iommulab {string.Join(' ', args)} exited {code}: {stderr}");
        return stdout.ToString();
    }

    private static Dictionary<string, string> RenderAll(IEnumerable<(string Key, Func<string> Render)> jobs, int threads)
    {
        var results = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        Parallel.ForEach(jobs, new ParallelOptions { MaxDegreeOfParallelism = threads }, job =>
            Assert.True(results.TryAdd(job.Key, job.Render())));
        return new Dictionary<string, string>(results, StringComparer.Ordinal);
    }

    private static void AssertSame(Dictionary<string, string> first, Dictionary<string, string> again, string what)
    {
        Assert.Equal(first.Count, again.Count);
        foreach (var (key, text) in first)
        {
            Assert.True(string.Equals(text, again[key], StringComparison.Ordinal), $"{what}: {key} rendered differently");
        }
    }

    [Fact]
    public void Topology_json_text_and_dump_of_corpus_boards_are_identical_across_runs_and_threads()
    {
        var jobs = Dtbs().SelectMany(path => new (string, Func<string>)[]
        {
            ($"json {path}", () => Cli("topology", path, "--format", "json")),
            ($"text {path}", () => Cli("topology", path)),
            ($"dump {path}", () => Cli("dump", path)),
        }).ToArray();
        Assert.True(jobs.Length > 3 * 200, $"{jobs.Length} renderings");
        var first = RenderAll(jobs, threads: 1);
        Assert.All(first, kv => Assert.NotEmpty(kv.Value));
        AssertSame(first, RenderAll(jobs, threads: 1), "second sequential run");
        AssertSame(first, RenderAll(jobs, threads: 4), "four threads");
        AssertSame(first, RenderAll(jobs.Reverse(), threads: 2), "two threads, reverse order");
    }

    [Fact]
    public void Iort_and_viot_renderings_of_corpus_tables_are_identical_across_runs_and_threads()
    {
        var tables = new[] { "qemu", "laptops" }.SelectMany(s => Corpus.IortFiles(s, "*.dat"))
            .Where(f => AcpiTable.LooksLikeAcpiTable(File.ReadAllBytes(f))).ToArray();
        Assert.True(tables.Length >= 30, $"{tables.Length} tables");
        var jobs = tables.Select(path => (path, (Func<string>)(() => AcpiTableText.Render(AcpiTable.LoadFile(path))))).ToArray();
        var first = RenderAll(jobs, threads: 1);
        AssertSame(first, RenderAll(jobs, threads: 1), "second sequential run");
        AssertSame(first, RenderAll(jobs, threads: 4), "four threads");
    }

    /// <summary>
    /// A subset that exercises every renderer: Apple DARTs (t8103-j274), iommu-map (fsl-ls1088a-rdb), SMMUs on
    /// juno-r1 and rk3399-evb, the QEMU boards, and IORT/VIOT tables from QEMU and two laptops.
    /// </summary>
    private static (IReadOnlyList<string> Dtbs, IReadOnlyList<string> Tables) Subset()
    {
        string Sid(string rel) => Corpus.SidDtbs.Single(p => p.EndsWith(rel, StringComparison.Ordinal));
        IReadOnlyList<string> dtbs =
        [
            Corpus.Apple("t8103-j274.dtb"), Sid("/freescale/fsl-ls1088a-rdb.dtb"), Sid("/arm/juno-r1.dtb"), Sid("/rockchip/rk3399-evb.dtb"),
            .. Corpus.QemuDtbs,
        ];
        IReadOnlyList<string> tables = [.. Corpus.IortFiles("qemu", "*.dat").Concat(Corpus.IortFiles("laptops", "*.dat").Take(2))
            .Where(f => AcpiTable.LooksLikeAcpiTable(File.ReadAllBytes(f)))];
        return (dtbs, tables);
    }

    /// <summary>Every command line of the subset: topology text and JSON, check JSON (a budget keeps it short), one lint JSON of all.</summary>
    private static IReadOnlyList<string[]> CommandLines()
    {
        var (dtbs, tables) = Subset();
        var lines = new List<string[]>();
        foreach (var dtb in dtbs)
        {
            lines.Add(["topology", dtb]);
            lines.Add(["topology", dtb, "--format", "json"]);
            lines.Add(["check", dtb, "--format", "json", "--budget", "300"]);
        }

        lines.AddRange(tables.Select(t => new[] { "topology", t }));
        lines.Add(["lint", "--format", "json", "--jobs", "1", .. dtbs, .. tables]);
        return lines;
    }

    /// <summary>Exit code, stdout and stderr of each command line, run in this process on this thread.</summary>
    private static List<string> InProcess(IReadOnlyList<string[]> lines) =>
        [.. lines.Select(args =>
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            var code = CliApp.Run(args, stdout, stderr);
            return $"exit {code}\n{stdout}\n--- stderr\n{stderr}";
        })];

    /// <summary>The same, each in a new <c>dotnet iommulab.dll</c> process under <paramref name="runtimeConfig"/> and the given locale.</summary>
    private static List<string> InProcesses(IReadOnlyList<string[]> lines, string runtimeConfig, string? locale)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "iommulab.dll");
        return [.. lines.Select(args =>
        {
            var psi = new ProcessStartInfo("dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                StandardOutputEncoding = Encoding.UTF8,
                StandardErrorEncoding = Encoding.UTF8,
            };
            foreach (var a in (string[])["exec", "--runtimeconfig", runtimeConfig, "--depsfile", Path.ChangeExtension(dll, ".deps.json"), dll, .. args])
            {
                psi.ArgumentList.Add(a);
            }

            if (locale is not null)
            {
                psi.Environment["LANG"] = locale;
                psi.Environment["LC_ALL"] = locale;
            }

            using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start dotnet");
            var err = p.StandardError.ReadToEndAsync();
            var output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return $"exit {p.ExitCode}\n{output}\n--- stderr\n{err.Result}";
        })];
    }

    private static void AssertSame(IReadOnlyList<string[]> lines, List<string> first, List<string> again, string what)
    {
        Assert.Equal(first.Count, again.Count);
        for (var i = 0; i < first.Count; i++)
        {
            Assert.True(string.Equals(first[i], again[i], StringComparison.Ordinal), $"{what}: iommulab {string.Join(' ', lines[i])} printed something else");
        }
    }

    /// <summary>An invariant culture with German number punctuation and a real minus sign: any culture-dependent formatting shows.</summary>
    private static CultureInfo GermanPunctuation()
    {
        var c = (CultureInfo)CultureInfo.InvariantCulture.Clone();
        c.NumberFormat.NumberDecimalSeparator = ",";
        c.NumberFormat.NumberGroupSeparator = ".";
        c.NumberFormat.PercentDecimalSeparator = ",";
        c.NumberFormat.NegativeSign = "\u2212";
        c.DateTimeFormat.DateSeparator = ".";
        return c;
    }

    [Fact]
    public void Topology_check_and_lint_of_a_corpus_subset_are_byte_identical_run_after_run_and_under_german_number_formatting()
    {
        var lines = CommandLines();
        var first = InProcess(lines);
        Assert.All(first, o => Assert.DoesNotContain("exit 2", o.Split('\n')[0]));
        Assert.All(first, o => Assert.True(o.Length > 200, o));
        AssertSame(lines, first, InProcess(lines), "second run");

        var saved = (CultureInfo.CurrentCulture, CultureInfo.CurrentUICulture);
        try
        {
            CultureInfo.CurrentCulture = CultureInfo.CurrentUICulture = GermanPunctuation();
            Assert.Equal("1.234,5 \u22121", string.Format(CultureInfo.CurrentCulture, "{0:N1} {1}", 1234.5, -1));
            AssertSame(lines, first, InProcess(lines), "German number formatting");
        }
        finally
        {
            (CultureInfo.CurrentCulture, CultureInfo.CurrentUICulture) = saved;
        }
    }

    [Fact]
    public void Topology_check_and_lint_of_a_corpus_subset_are_byte_identical_across_processes_and_in_a_de_DE_process()
    {
        var lines = CommandLines();
        var first = InProcess(lines);
        var config = Path.Combine(AppContext.BaseDirectory, "iommulab.runtimeconfig.json");
        AssertSame(lines, first, InProcesses(lines, config, locale: null), "a new process");

        // The CLI is built with InvariantGlobalization; a copy of its runtime config with ICU on lets LANG=de_DE
        // take effect, as it would for a build or a host without that switch.
        var icu = Path.Combine(Directory.CreateTempSubdirectory("iommulab-de").FullName, "iommulab.runtimeconfig.json");
        var text = File.ReadAllText(config);
        Assert.Contains("\"System.Globalization.Invariant\": true", text);
        File.WriteAllText(icu, text.Replace("\"System.Globalization.Invariant\": true", "\"System.Globalization.Invariant\": false", StringComparison.Ordinal));
        AssertSame(lines, first, InProcesses(lines, icu, "de_DE.UTF-8"), "a de_DE process");
    }
}
