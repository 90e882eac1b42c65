using System.Diagnostics;
using IommuLab.Model.Exploration;
using IommuLab.Model.Kernel;
using Xunit.Abstractions;

namespace IommuLab.Tests.Kernel;

public sealed class SchedulerTests(ITestOutputHelper output)
{
    private static readonly KObject X = new(ObjectKind.DevIommu, 0);

    private sealed class RoundRobin : IThreadChooser
    {
        private int _next;

        public int Choose(IReadOnlyList<KThread> enabled) => _next++ % enabled.Count;
    }

    private static async KTask<int> Inner(Scheduler s, List<string> log, string who, int i)
    {
        await s.At(X, AccessKind.Write);
        log.Add($"{who}{i}");
        return i;
    }

    private static async KTask Body(Scheduler s, List<string> log, string who)
    {
        for (var i = 0; i < 3; i++)
        {
            await Inner(s, log, who, i);
        }
    }

    [Fact]
    public void Coarse_mode_runs_a_thread_to_completion_through_nested_points()
    {
        var s = new Scheduler(SchedulerMode.Coarse);
        var log = new List<string>();
        var a = s.Spawn("a", () => Body(s, log, "a"));
        var b = s.Spawn("b", () => Body(s, log, "b"));
        s.RunToCompletion(a);
        s.RunToCompletion(b);
        Assert.Equal(["a0", "a1", "a2", "b0", "b1", "b2"], log);
        Assert.Equal(6, s.Points);
    }

    [Fact]
    public void Fine_mode_interleaves_at_every_point_as_the_chooser_says()
    {
        var s = new Scheduler(SchedulerMode.Fine, new RoundRobin(), record: true);
        var log = new List<string>();
        s.Spawn("a", () => Body(s, log, "a"));
        s.Spawn("b", () => Body(s, log, "b"));
        s.RunUntilIdle();
        Assert.Equal(["a0", "b0", "a1", "b1", "a2", "b2"], log);
        Assert.All(s.Threads, t => Assert.Equal(KThreadState.Done, t.State));
        Assert.Equal(6, s.Steps.Count);
    }

    [Fact]
    public void A_held_lock_disables_the_other_acquirer_until_released()
    {
        var s = new Scheduler(SchedulerMode.Fine, new RoundRobin());
        var m = s.Mutex(new KObject(ObjectKind.ProbeLock, 0), "L");
        var log = new List<string>();
        async KTask Critical(string who)
        {
            await s.Lock(m);
            log.Add(who + " in");
            await s.At(X, AccessKind.Write);
            log.Add(who + " out");
            await s.Unlock(m);
        }

        s.Spawn("a", () => Critical("a"));
        s.Spawn("b", () => Critical("b"));
        s.RunUntilIdle();
        Assert.Equal(["a in", "a out", "b in", "b out"], log);
    }

    [Fact]
    public void Dependency_is_same_object_with_a_write_or_any_lock_op()
    {
        var r = new Access(X, AccessKind.Read);
        var w = new Access(X, AccessKind.Write);
        Assert.False(r.DependsOn(r));
        Assert.True(r.DependsOn(w));
        Assert.False(w.DependsOn(new Access(new KObject(ObjectKind.DevIommu, 1), AccessKind.Write)));
        var l = new KObject(ObjectKind.ProbeLock, 0);
        Assert.True(new Access(l, AccessKind.Acquire).DependsOn(new Access(l, AccessKind.Release)));
    }

    /// <summary>Micro-benchmark of one scheduling point (reported; asserted only for the count).</summary>
    [Fact]
    public void Cost_of_a_scheduling_point()
    {
        const int n = 1_000_000;
        var coarse = new Scheduler(SchedulerMode.Coarse);
        async KTask Loop(Scheduler s)
        {
            for (var i = 0; i < n; i++)
            {
                await Nested(s);
            }
        }

        static async KTask<int> Nested(Scheduler s)
        {
            await s.At(X, AccessKind.Read);
            return 1;
        }

        // Warm up past tier-0 JIT first; the second run is measured.
        coarse.RunToCompletion(coarse.Spawn("warm", () => Loop(coarse)));
        var sw = Stopwatch.StartNew();
        coarse.RunToCompletion(coarse.Spawn("bench", () => Loop(coarse)));
        var coarseNs = sw.Elapsed.TotalNanoseconds / n;
        var fine = new Scheduler(SchedulerMode.Fine, new RoundRobin());
        sw.Restart();
        fine.Spawn("bench", () => Loop(fine));
        fine.RunUntilIdle();
        var fineNs = sw.Elapsed.TotalNanoseconds / n;
        output.WriteLine($"coarse point (through one nested KTask frame): {coarseNs:F1} ns; fine point (park + resume): {fineNs:F1} ns");
        Assert.Equal(2 * n, coarse.Points);
        Assert.Equal(n, fine.Points);

        var platform = KernelRun.Platform("usb-two-darts.dts");
        var (events, _) = ScheduleParser.Parse("REG(dwc3_0_dart_0) PROBE(usb_drd0) REG(dwc3_0_dart_1)", platform);
        const int runs = 2000;
        for (var i = 0; i < runs; i++)
        {
            Execution.Run(platform, Profiles.K616, events!);
        }

        sw.Restart();
        long points = 0;
        for (var i = 0; i < runs; i++)
        {
            points += Execution.Run(platform, Profiles.K616, events!).Kernel.Sched.Points;
        }

        output.WriteLine($"S1 execution (K616, boot + 3 events): {sw.Elapsed.TotalMicroseconds / runs:F1} µs, {points / runs} points");
        Assert.True(points > 0);
    }
}
