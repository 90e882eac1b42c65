using System.Collections.Concurrent;
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
}
