using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;

namespace IommuLab.Benchmarks;

/// <summary>
/// The real peer: `dtc -q -I dtb -O dts -o /dev/null FILE` once per sid DTB, one process at a
/// time, as a user's shell loop runs it. Few iterations: one operation takes seconds.
/// </summary>
[Config(typeof(SidThroughputConfig))]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 3)]
public class DtcPeerBenchmarks
{
    private IReadOnlyList<string> _paths = [];

    [GlobalSetup]
    public void Setup() => _paths = CorpusSet.Sid().Paths;

    [Benchmark]
    public int DtcDecompileLoop()
    {
        var failures = 0;
        foreach (var path in _paths)
        {
            using var p = Process.Start(new ProcessStartInfo("dtc", ["-q", "-I", "dtb", "-O", "dts", "-o", "/dev/null", path]))
                ?? throw new InvalidOperationException("cannot start dtc");
            p.WaitForExit();
            failures += p.ExitCode == 0 ? 0 : 1;
        }

        return failures;
    }
}
