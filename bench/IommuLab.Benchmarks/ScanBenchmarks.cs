using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using IommuLab.Firmware.Lint;
using IommuLab.Model.Kernel;
using IommuLab.Model.Scan;
using IommuLab.Tests.Support;

namespace IommuLab.Benchmarks;

/// <summary>
/// Issue 7's goal: `scan` over the whole corpus (every sid, Apple and QEMU DTB and every IORT/VIOT table), lint
/// plus exploration under every profile on all cores, against dtc only decompiling the same DTBs, one process per
/// file as a user's shell loop runs it. Budgets as in CI: exhaustive up to 50 executions per cluster, else a
/// sample of 10. One operation takes seconds to minutes, so one measured cold iteration each (JIT included, as a
/// user runs it). The scans explore each cluster on its restricted platform and reuse identical clusters' results
/// (the defaults); the NoCache row turns the reuse off.
/// </summary>
[Config(typeof(AsTheCliRuns))]
public class ScanBenchmarks
{
    /// <summary>
    /// One cold iteration, with the runtime settings the CLI ships (its csproj): TieredPGO and quick JIT for loops
    /// off, no call-counting delay, server GC without dynamic adaptation.
    /// </summary>
    private sealed class AsTheCliRuns : ManualConfig
    {
        public AsTheCliRuns() => AddJob(Job.Default
            .WithStrategy(RunStrategy.Monitoring)
            .WithLaunchCount(1)
            .WithWarmupCount(0)
            .WithIterationCount(1)
            .WithGcServer(true)
            .WithEnvironmentVariables(
                new EnvironmentVariable("DOTNET_TieredPGO", "0"),
                new EnvironmentVariable("DOTNET_TC_QuickJitForLoops", "0"),
                new EnvironmentVariable("DOTNET_TC_CallCountingDelayMs", "0"),
                new EnvironmentVariable("DOTNET_GCDynamicAdaptationMode", "0")));
    }

    private IReadOnlyList<string> _files = [];
    private IReadOnlyList<string> _dtbs = [];

    [GlobalSetup]
    public void Setup()
    {
        _files = [.. Corpus.AllDtbs, .. LintInputs.Expand([Path.Combine(Corpus.Root, "iort")])];
        _dtbs = Corpus.AllDtbs;
    }

    private static ScanOptions Options(IReadOnlyList<Profile> profiles) => new()
    {
        Profiles = profiles,
        Jobs = Environment.ProcessorCount,
        ExhaustiveBudget = 50,
        SampleBudget = 10,
    };

    [Benchmark]
    public int ScanWholeCorpusEveryProfile() => ScanRunner.Run(_files, Options(Profiles.All)).Count;

    /// <summary>Each cluster on its restricted platform, but every cluster explored even when an identical one was.</summary>
    [Benchmark]
    public int ScanWholeCorpusEveryProfileNoCache() => ScanRunner.Run(_files, Options(Profiles.All) with { Memoize = false }).Count;

    [Benchmark]
    public int ScanWholeCorpusOneProfile() => ScanRunner.Run(_files, Options([Profiles.K616])).Count;

    [Benchmark]
    public int ScanWholeCorpusNoExploration() => ScanRunner.Run(_files, Options([])).Count;

    [Benchmark(Baseline = true)]
    public int DtcDecompileEveryDtb()
    {
        var failures = 0;
        foreach (var path in _dtbs)
        {
            using var p = Process.Start(new ProcessStartInfo("dtc", ["-q", "-I", "dtb", "-O", "dts", "-o", "/dev/null", path]))
                ?? throw new InvalidOperationException("cannot start dtc");
            p.WaitForExit();
            failures += p.ExitCode == 0 ? 0 : 1;
        }

        return failures;
    }
}
