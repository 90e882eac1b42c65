using IommuLab.Model.Exploration;
using IommuLab.Tests.Kernel;
using IommuLab.Tests.Support;

namespace IommuLab.Tests.Exploration;

/// <summary>
/// Optimal DPOR against brute force: on every fixture small enough, all interleavings are enumerated, their distinct
/// Mazurkiewicz traces counted (Foata normal form under the same dependency relation), and DPOR must run exactly one
/// execution per trace, none sleep-set blocked, with the same final outcomes and violations.
/// </summary>
public sealed class DporProofTests
{
    private sealed record Summary(int Executions, int Traces, bool Complete, int Blocked, SortedSet<string> Outcomes, SortedSet<string> Violations);

    private static Summary Run(IExplorable system, Func<Executor, Action<ExecutionRecord>, StrategyResult> explore)
    {
        var traces = new HashSet<string>();
        var outcomes = new SortedSet<string>(StringComparer.Ordinal);
        var violations = new SortedSet<string>(StringComparer.Ordinal);
        var r = explore(new Executor(), rec =>
        {
            traces.Add(rec.Foata());
            outcomes.Add(rec.Outcome.Key);
            foreach (var v in rec.Outcome.Violations)
            {
                violations.Add($"{v.Invariant} {v.Device} {v.Message}");
            }
        });
        return new Summary(r.Executions, traces.Count, r.Complete, r.SleepBlocked, outcomes, violations);
    }

    private static void AssertOptimal(IExplorable system, int bruteBudget = 2_000_000)
    {
        var brute = Run(system, (x, on) => new AllInterleavings(bruteBudget).Explore(system, x, on));
        Assert.True(brute.Complete, "fixture too large to brute-force");
        var dpor = Run(system, (x, on) => new OptimalDporStrategy(1_000_000).Explore(system, x, on));
        Assert.True(dpor.Complete);
        Assert.Equal(0, dpor.Blocked);
        Assert.Equal(brute.Traces, dpor.Executions);
        Assert.Equal(dpor.Executions, dpor.Traces);
        Assert.Equal(brute.Outcomes, dpor.Outcomes);
        Assert.Equal(brute.Violations, dpor.Violations);
        Assert.True(brute.Executions >= dpor.Executions);
    }

    public static TheoryData<string, string> CoarseCases()
    {
        var data = new TheoryData<string, string>();
        foreach (var fixture in new[] { "usb-two-darts.dts", "single-dart.dts", "usb-second-dart-disabled.dts", "display-locked-dart.dts", "group-conflict.dts" })
        {
            foreach (var profile in new[] { "K66", "K68", "K611", "K616", "JGG2+F1" })
            {
                data.Add(fixture, profile);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CoarseCases))]
    public void Coarse_dpor_runs_one_execution_per_trace_on_kernel_fixtures(string fixture, string profile)
    {
        var platform = KernelRun.Platform(fixture);
        foreach (var cluster in Clusters.Of(platform))
        {
            AssertOptimal(new KernelSystem(platform, KernelRun.Profile(profile), Granularity.Coarse, cluster));
        }
    }

    [Fact]
    public void Coarse_dpor_is_optimal_before_late_initcall_too()
    {
        var platform = KernelRun.Platform("usb-two-darts.dts", platformKnobs: new Model.Kernel.PlatformKnobs { AfterLateInitcall = false });
        AssertOptimal(new KernelSystem(platform, KernelRun.Profile("K68"), Granularity.Coarse, Clusters.Of(platform)[0]));
    }

    /// <summary>A DT PCIe host bridge whose functions reach one or two DARTs through iommu-map: ADD steps from the scan.</summary>
    internal static Model.Kernel.Platform Pcie(bool twoDarts)
    {
        var map = twoDarts ? "<0x100 &pdart0 1 1>, <0x200 &pdart1 1 1>" : "<0x100 &pdart0 1 1>";
        var dart1 = twoDarts ? """pdart1: iommu@682008000 { compatible = "apple,t8103-dart"; reg = <0x6 0x82008000 0x0 0x4000>; #iommu-cells = <1>; };""" : "";
        var port1 = twoDarts ? """
                        port01: pci@1,0 { device_type = "pci"; reg = <0x800 0x0 0x0 0x0 0x0>; bus-range = <0x02 0x02>; #address-cells = <3>; #size-cells = <2>;
                            sd: sdhci@0,0 { reg = <0x20000 0x0 0x0 0x0 0x0>; };
                        };
            """ : "";
        var nodes = $$"""
                    pdart0: iommu@681008000 { compatible = "apple,t8103-dart"; reg = <0x6 0x81008000 0x0 0x4000>; #iommu-cells = <1>; };
                    {{dart1}}
                    pcie0: pcie@690000000 {
                        compatible = "apple,t8103-pcie", "apple,pcie";
                        device_type = "pci";
                        reg = <0x6 0x90000000 0x0 0x1000000>;
                        #address-cells = <3>;
                        #size-cells = <2>;
                        iommu-map = {{map}};
                        port00: pci@0,0 { device_type = "pci"; reg = <0x0 0x0 0x0 0x0 0x0>; bus-range = <0x01 0x01>; #address-cells = <3>; #size-cells = <2>;
                            wifi: network@0,0 { reg = <0x10000 0x0 0x0 0x0 0x0>; };
                        };
            {{port1}}
                    };
            """;
        // The DART modules can load after the deferred-probe timeout: TIMEOUT is a choice.
        string[] late = twoDarts ? ["pdart0.module-after-timeout=1", "pdart1.module-after-timeout=1"] : ["pdart0.module-after-timeout=1"];
        return SocTree.Platform(nodes, "pcie-generated.dts", late);
    }

    public static TheoryData<bool, string> AddCases()
    {
        var data = new TheoryData<bool, string>();
        foreach (var profile in new[] { "K66", "K68", "K611", "K615", "K616" })
        {
            data.Add(false, profile);
        }

        // Two scanned clusters: under K66/K68 each also runs the other's DART as a foreign REG.
        foreach (var profile in new[] { "K66", "K68", "K611", "K615", "K616" })
        {
            data.Add(true, profile);
        }

        return data;
    }

    /// <summary>PCI functions added by the host bridge's scan (ADD steps), racing the DARTs' REG/BIND and the TIMEOUT choice.</summary>
    [Theory]
    [MemberData(nameof(AddCases))]
    public void Coarse_dpor_is_optimal_with_add_and_timeout_steps(bool twoDarts, string profile)
    {
        var platform = Pcie(twoDarts);
        var clusters = Clusters.Of(platform);
        Assert.Equal(twoDarts ? 2 : 1, clusters.Count);
        foreach (var cluster in clusters)
        {
            var system = new KernelSystem(platform, KernelRun.Profile(profile), Granularity.Coarse, cluster);
            var keys = new Executor().Replay(system, []).ProcessKeys;
            Assert.Contains(keys, k => k.StartsWith("scan:", StringComparison.Ordinal));
            Assert.Contains("timeout", keys);
            AssertOptimal(system);
        }
    }

    [Theory]
    [InlineData(2, 2, true)]
    [InlineData(3, 2, true)]
    [InlineData(3, 2, false)]
    [InlineData(2, 3, true)]
    public void Fine_dpor_is_optimal_on_threads_with_locks_and_shared_objects(int threads, int rounds, bool locked)
    {
        AssertOptimal(new ToySystem(threads, rounds, locked));
    }

    /// <summary>
    /// Stopping once a proof is out of reach (the scan's mode) changes no verdict: for every budget around the trace
    /// count, the run is complete exactly when the full one fits in the budget, and runs the full run's first
    /// executions, never more than the budget.
    /// </summary>
    private static void AssertStopsOnlyWhenUnprovable(IExplorable system)
    {
        var full = new List<string>();
        var all = new OptimalDporStrategy(1_000_000).Explore(system, new Executor(), rec => full.Add(string.Join(" ", rec.Schedule)));
        Assert.True(all.Complete);
        for (var budget = 1; budget <= all.Executions + 2; budget++)
        {
            var seen = new List<string>();
            var cut = new OptimalDporStrategy(budget).Explore(system, new Executor(), _ => { });
            var r = new OptimalDporStrategy(budget, stopWhenUnprovable: true).Explore(system, new Executor(), rec => seen.Add(string.Join(" ", rec.Schedule)));
            Assert.Equal(all.Executions <= budget, r.Complete);
            Assert.Equal(cut.Complete, r.Complete);
            Assert.True(r.Executions <= budget);
            Assert.Equal(full.Take(r.Executions).ToArray(), seen.ToArray());
            if (r.Complete)
            {
                Assert.Equal(all.Executions, r.Executions);
            }
        }
    }

    [Theory]
    [InlineData("usb-two-darts.dts", "K68")]
    [InlineData("usb-two-darts.dts", "K616")]
    [InlineData("group-conflict.dts", "K611")]
    [InlineData("display-locked-dart.dts", "JGG2+F1")]
    public void Stopping_when_unprovable_changes_no_verdict_on_kernel_fixtures(string fixture, string profile)
    {
        var platform = KernelRun.Platform(fixture);
        foreach (var cluster in Clusters.Of(platform))
        {
            AssertStopsOnlyWhenUnprovable(new KernelSystem(platform, KernelRun.Profile(profile), Granularity.Coarse, cluster));
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Stopping_when_unprovable_changes_no_verdict_on_pci_add_steps(bool twoDarts)
    {
        var platform = Pcie(twoDarts);
        foreach (var cluster in Clusters.Of(platform))
        {
            AssertStopsOnlyWhenUnprovable(new KernelSystem(platform, KernelRun.Profile("K616"), Granularity.Coarse, cluster));
        }
    }

    [Theory]
    [InlineData(3, 2, true)]
    [InlineData(3, 2, false)]
    public void Stopping_when_unprovable_changes_no_verdict_on_fine_threads(int threads, int rounds, bool locked)
    {
        AssertStopsOnlyWhenUnprovable(new ToySystem(threads, rounds, locked));
    }

    /// <summary>Threads that read and write a few shared objects, optionally inside a shared lock, in fine mode.</summary>
    private sealed class ToySystem(int threads, int rounds, bool locked) : IExplorable
    {
        public IExplorableRun Start() => new Run(threads, rounds, locked);

        private sealed class Run : IExplorableRun
        {
            private readonly Scheduler _s = new(SchedulerMode.Fine, new First(), record: true);
            private readonly List<KThread> _threads = [];
            private readonly int[] _values = new int[2];
            private readonly List<ProcessInfo> _infos = [];

            public Run(int threads, int rounds, bool locked)
            {
                var m = _s.Mutex(new KObject(ObjectKind.ProbeLock, 0), "L");
                for (var t = 0; t < threads; t++)
                {
                    var me = t;
                    _threads.Add(_s.Spawn($"t{t}", () => Body(me, rounds, locked ? m : null)));
                    _infos.Add(new ProcessInfo($"t{t}", $"t{t}"));
                }
            }

            public IReadOnlyList<ProcessInfo> Processes => _infos;

            public bool IsEnabled(int process) => _s.IsEnabled(_threads[process]);

            public StepInfo Step(int process)
            {
                var t = _threads[process];
                System.Collections.Immutable.ImmutableArray<Access> acc = t.Pending is { } a ? [a] : [];
                _s.RunStep(t);
                return new StepInfo(t.Name, acc, []);
            }

            public RunOutcome Finish() => new([$"x={_values[0]} y={_values[1]}"], []);

            private async KTask Body(int me, int rounds, KMutex? m)
            {
                for (var r = 0; r < rounds; r++)
                {
                    var obj = (me + r) % 2;
                    if (m is not null && r == 0)
                    {
                        await _s.Lock(m);
                    }

                    await _s.At(new KObject(ObjectKind.DevIommu, obj), AccessKind.Read);
                    var v = _values[obj];
                    await _s.At(new KObject(ObjectKind.DevIommu, obj), AccessKind.Write);
                    _values[obj] = (v * 3) + me + 1;
                    if (m is not null && r == 0)
                    {
                        await _s.Unlock(m);
                    }
                }
            }

            private sealed class First : IThreadChooser
            {
                public int Choose(IReadOnlyList<KThread> enabled) => 0;
            }
        }
    }
}
