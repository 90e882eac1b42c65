using System.Text;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Model.Exploration;
using IommuLab.Model.Kernel;
using Xunit.Abstractions;

namespace IommuLab.Tests.Robustness;

/// <summary>Memory tests read the whole process's managed heap, so nothing else may run beside them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryCollection
{
    public const string Name = "Memory (alone)";
}

/// <summary>
/// Bounded memory: the exploration engine (optimal DPOR and the executor) keeps state that grows with the schedule
/// depth, not with the number of executions. Measured as the live managed heap after forced full collections,
/// sampled every 500 executions of a system with far more traces than the budget.
/// </summary>
[Collection(MemoryCollection.Name)]
public sealed class MemoryTests(ITestOutputHelper output)
{
    /// <summary>Stated bound: the engine's live heap may exceed the heap before the run by at most this.</summary>
    private const long BoundBytes = 16L << 20;

    /// <summary>Quadrupling the executions may add at most this (noise of the test host, interned step keys).</summary>
    private const long GrowthSlackBytes = 1L << 20;

    /// <summary>Tighter than the engine's slack: small enough to catch uncapped digests at these budgets.</summary>
    private const long ExplorerGrowthSlackBytes = 512L << 10;

    private const int SampleEvery = 500;

    /// <summary>Two independent consumers, each behind two DARTs, explored as one system: more than 40,000 traces (a budget of 40,000 does not finish it).</summary>
    private static readonly string TwoConsumers =
        "/dts-v1/;\n/ { #address-cells = <2>; #size-cells = <2>;\n soc { compatible = \"simple-bus\"; #address-cells = <2>; #size-cells = <2>; ranges;\n"
        + string.Concat(Enumerable.Range(0, 2).Select(i =>
            $"  a{i}: iommu@{i}1000 {{ compatible = \"apple,t8103-dart\"; reg = <0x0 0x{i}1000 0x0 0x1000>; #iommu-cells = <1>; }};\n"
            + $"  b{i}: iommu@{i}2000 {{ compatible = \"apple,t8103-dart\"; reg = <0x0 0x{i}2000 0x0 0x1000>; #iommu-cells = <1>; }};\n"
            + $"  d{i}: usb@{i}3000 {{ compatible = \"apple,t8103-dwc3\"; reg = <0x0 0x{i}3000 0x0 0x1000>; iommus = <&a{i} 0>, <&b{i} 1>; }};\n"))
        + " };\n};\n";

    private static (long Before, long Peak, StrategyResult Result) Explore(int budget)
    {
        var platform = DtPlatformBuilder.Build(DeviceTreeLoader.Load(Encoding.UTF8.GetBytes(TwoConsumers), "two.dts"), new PlatformKnobs(), []).Platform
            ?? throw new InvalidOperationException("platform");
        var system = new KernelSystem(platform, Profiles.K616, Granularity.Coarse, Clusters.Whole(platform));
        var strategy = StrategyNames.Create(StrategyKind.Exhaustive, budget, seed: 0);
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var peak = before;
        var executions = 0;
        var result = strategy.Explore(system, new Executor(), _ =>
        {
            if (++executions % SampleEvery == 0)
            {
                peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: true));
            }
        });
        return (before, peak, result);
    }

    [Fact]
    public void Exploration_engine_memory_stays_under_its_bound_and_does_not_grow_with_the_number_of_executions()
    {
        const int N = 4000;
        var (before1, peak1, small) = Explore(N);
        var (before4, peak4, large) = Explore(4 * N);
        output.WriteLine($"{small.Executions} executions: heap {before1} -> peak {peak1}; {large.Executions} executions: heap {before4} -> peak {peak4}");

        // The budget, not the system, ended both runs: the system has more traces than 4N.
        Assert.Equal((N, false), (small.Executions, small.Complete));
        Assert.Equal((4 * N, false), (large.Executions, large.Complete));
        Assert.True(peak1 - before1 < BoundBytes, $"{N} executions held {peak1 - before1} bytes");
        Assert.True(peak4 - before4 < BoundBytes, $"{4 * N} executions held {peak4 - before4} bytes");
        Assert.True(peak4 - before4 < peak1 - before1 + GrowthSlackBytes,
            $"4x the executions held {peak4 - before4} bytes against {peak1 - before1}: memory grows with executions");
    }

    private static (long Before, long Peak, ClusterResult Result) Check(int budget, int digestsKept)
    {
        var platform = DtPlatformBuilder.Build(DeviceTreeLoader.Load(Encoding.UTF8.GetBytes(TwoConsumers), "two.dts"), new PlatformKnobs(), []).Platform
            ?? throw new InvalidOperationException("platform");
        var system = new KernelSystem(platform, Profiles.K616, Granularity.Coarse, Clusters.Whole(platform));
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var peak = before;
        var options = new ExplorationOptions
        {
            Budget = budget,
            TraceDigestsKept = digestsKept,
            OnExecution = n =>
            {
                if (n % SampleEvery == 0)
                {
                    peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: true));
                }
            },
        };
        var result = Explorer.CheckCluster(system, options);
        return (before, peak, result);
    }

    [Fact]
    public void Explorer_check_memory_stays_under_its_bound_once_the_trace_digests_are_capped()
    {
        // The whole explorer (outcomes, kept schedules, trace digests), not only the engine. N is past the 4096
        // correct schedules the explorer keeps, so only an unbounded structure can grow between the two runs:
        // 15,000 more uncapped digests held 0.75 MiB more when measured; the capped runs differ by about 60 KiB
        // alone and by up to about 340 KiB in a full test run.
        const int N = 5000;
        const int Kept = 1000;
        // A warm-up run first: JIT and type loading during the first measured run would count as its growth.
        Check(N / 10, Kept);
        var (before1, peak1, small) = Check(N, Kept);
        var (before4, peak4, large) = Check(4 * N, Kept);
        output.WriteLine($"{small.Result.Executions} executions: heap {before1} -> peak {peak1}; {large.Result.Executions} executions: heap {before4} -> peak {peak4}");

        Assert.Equal((N, false), (small.Result.Executions, small.Result.Complete));
        Assert.Equal((4 * N, false), (large.Result.Executions, large.Result.Complete));
        // Exhaustive DPOR runs distinct traces, so the digest set fills and the count becomes a stated lower bound.
        Assert.Equal((Kept, true), (small.Traces, small.TracesCapped));
        Assert.Equal((Kept, true), (large.Traces, large.TracesCapped));
        Assert.True(peak1 - before1 < BoundBytes, $"{N} executions held {peak1 - before1} bytes");
        Assert.True(peak4 - before4 < BoundBytes, $"{4 * N} executions held {peak4 - before4} bytes");
        Assert.True(peak4 - before4 < peak1 - before1 + ExplorerGrowthSlackBytes,
            $"4x the executions held {peak4 - before4} bytes against {peak1 - before1}: memory grows with executions");
    }

    [Fact]
    public void Explorer_counts_traces_exactly_below_the_digest_cap()
    {
        var (_, _, r) = Check(300, 1 << 18);
        Assert.Equal((300, false), (r.Traces, r.TracesCapped));
    }
}
