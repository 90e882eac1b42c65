using IommuLab.Model.Exploration;
using IommuLab.Model.Kernel;

namespace IommuLab.Tests.Kernel;

/// <summary>
/// The same model code interleaved at its scheduling points (DESIGN.md "the seam between the model and the
/// explorer"): a scripted chooser reproduces the S-CT window (spec §5.6, fixed by b46064a18810 in K615).
/// </summary>
public sealed class FineModeTests
{
    /// <summary>Runs one thread until a predicate on it holds, then the next phase; otherwise the first enabled thread.</summary>
    private sealed class PhaseChooser(params (string Thread, Func<KThread, bool> Stop)[] phases) : IThreadChooser
    {
        private int _phase;

        public int Choose(IReadOnlyList<KThread> enabled)
        {
            while (_phase < phases.Length)
            {
                var (name, stop) = phases[_phase];
                var i = enabled.ToList().FindIndex(t => t.Name == name);
                if (i < 0)
                {
                    // Not spawned yet, blocked or finished: let others run without consuming the phase.
                    return 0;
                }

                if (!stop(enabled[i]))
                {
                    return i;
                }

                _phase++;
            }

            return 0;
        }
    }

    private static int Acquires(KThread t, ObjectKind kind) =>
        t.Footprint.Count(a => a.Kind == AccessKind.Acquire && a.Object.Kind == kind);

    private static bool AtAcquire(KThread t, ObjectKind kind, int nth) =>
        t.State == KThreadState.Parked && t.Pending is { Kind: AccessKind.Acquire } p && p.Object.Kind == kind && Acquires(t, kind) == nth;

    private static Model.Kernel.Kernel RunSct(string profile) => RunSingleDart(profile,
        // REG(dcp_dart): register, then stop as its walk is about to lock for its first device.
        ("probe dcp_dart", t => t.Footprint.Any(a => a.Object.Kind == ObjectKind.InstanceList && a.Kind == AccessKind.Write) && AtAcquire(t, ObjectKind.ProbeLock, 1)),
        // PROBE(dcp) concurrently: parse under the lock (X is on the list), stop before the replay locks again.
        ("probe dcp", t => AtAcquire(t, ObjectKind.ProbeLock, 2)),
        // The walk probes dcp into its group; stop before the deferred default-domain setup.
        ("probe dcp_dart", t => AtAcquire(t, ObjectKind.GroupMutex, 2)),
        // dcp's replay, use_default_domain and DMA-ops decision run in the window.
        ("probe dcp", t => t.State == KThreadState.Done));

    private static Model.Kernel.Kernel RunSingleDart(string profile, params (string Thread, Func<KThread, bool> Stop)[] phases)
    {
        var platform = KernelRun.Platform("single-dart.dts");
        var chooser = new PhaseChooser(phases);
        var sched = new Scheduler(SchedulerMode.Fine, chooser, record: true);
        var k = new Model.Kernel.Kernel(platform, KernelRun.Profile(profile).Switches, sched);
        foreach (var d in k.Devices)
        {
            sched.Spawn($"device_add {d.Name}", () => k.DeviceAdd(d));
        }

        sched.RunUntilIdle();
        var dart = k.Devices.Single(d => d.Name == "dcp_dart");
        var dcp = k.Devices.Single(d => d.Name == "dcp");
        sched.Spawn("probe dcp_dart", () => k.DriverProbeDevice(dart));
        sched.Spawn("probe dcp", () => k.DriverProbeDevice(dcp));
        sched.RunUntilIdle();
        while (k.WorkQueued)
        {
            sched.Spawn("deferred_probe_work", k.DeferredProbeWork);
            sched.RunUntilIdle();
        }

        Assert.Empty(sched.Deadlocked());
        return k;
    }

    [Theory]
    [InlineData("K67")]
    [InlineData("K68")]
    [InlineData("K611")]
    public void S_CT_bind_in_the_default_domain_window_leaves_direct_dma_under_a_dma_domain_before_k615(string profile)
    {
        var k = RunSct(profile);
        var dcp = k.Devices.Single(d => d.Name == "dcp");
        Assert.Equal(DriverState.Bound, dcp.State);
        Assert.Equal(DomainType.Dma, dcp.Group!.Domain!.Type);
        if (k.Switches.DmaOps == DmaOpsDecision.IommuCore)
        {
            // ≥ v6.13: the core switches the bound driver to iommu-dma underneath it ("disastrous consequences").
            Assert.Equal(DmaMode.IommuDma, dcp.Dma);
            Assert.Contains(k.Events, e => e.Function == "iommu_setup_dma_ops" && e.Message.Contains("underneath", StringComparison.Ordinal));
        }
        else
        {
            Assert.Equal(DmaMode.Direct, dcp.Dma);
            Assert.Contains(Invariants.CheckAll(k), v => v.Invariant == "I4");
        }
    }

    [Theory]
    [InlineData("K615")]
    [InlineData("K616")]
    public void S_CT_use_default_domain_defers_until_the_walk_is_done_from_k615(string profile)
    {
        var k = RunSct(profile);
        var dcp = k.Devices.Single(d => d.Name == "dcp");
        Assert.Contains(k.Events, e => e.Device == "dcp" && e.Function == "driver_probe_device" && e.Message.Contains("deferral", StringComparison.Ordinal));
        Assert.Equal(DriverState.Bound, dcp.State);
        Assert.Equal(DmaMode.IommuDma, dcp.Dma);
        Assert.DoesNotContain(Invariants.CheckAll(k), v => v.Invariant == "I4");
    }

    /// <summary>
    /// The walk sets up the default domain while PROBE(dcp) is between dma_configure and use_default_domain: since
    /// v6.13 iommu_setup_dma_ops() only sets dev->dma_iommu, which the DMA API reads on every call, so the driver's
    /// probe() (run after use_default_domain) starts on iommu-dma and nothing is switched underneath it.
    /// </summary>
    [Fact]
    public void Dma_flag_set_before_the_drivers_probe_runs_is_no_switch_under_a_bound_driver_in_k611()
    {
        var k = RunSingleDart("K611",
            ("probe dcp_dart", t => t.Footprint.Any(a => a.Object.Kind == ObjectKind.InstanceList && a.Kind == AccessKind.Write) && AtAcquire(t, ObjectKind.ProbeLock, 1)),
            ("probe dcp", t => AtAcquire(t, ObjectKind.ProbeLock, 2)),
            ("probe dcp_dart", t => AtAcquire(t, ObjectKind.GroupMutex, 2)),
            // The replay finds the group; dma_configure is done; stop as use_default_domain locks the group.
            ("probe dcp", t => AtAcquire(t, ObjectKind.GroupMutex, 1)),
            // The walk finishes: default domain, dev->dma_iommu = true, ready.
            ("probe dcp_dart", t => t.State == KThreadState.Done));
        var dcp = k.Devices.Single(d => d.Name == "dcp");
        Assert.Equal(DriverState.Bound, dcp.State);
        Assert.Equal(DmaMode.IommuDma, dcp.Dma);
        Assert.Contains(k.Events, e => e.Device == "dcp" && e.Function == "iommu_setup_dma_ops" && e.Message.Contains("before the driver's probe()", StringComparison.Ordinal));
        Assert.DoesNotContain(k.Events, e => e.Level == EventLevel.Warn && e.Function == "iommu_setup_dma_ops");
        Assert.DoesNotContain(Invariants.CheckAll(k).Concat(ExecutionChecks.Check(k)), v => v.Invariant == "I4");
    }

    [Fact]
    public void Coarse_and_fine_runs_of_the_same_order_reach_the_same_state()
    {
        var platform = KernelRun.Platform("usb-two-darts.dts");
        string Run(SchedulerMode mode)
        {
            var sched = mode == SchedulerMode.Fine ? new Scheduler(mode, new PhaseChooser()) : new Scheduler(mode);
            var k = new Model.Kernel.Kernel(platform, Profiles.K616.Switches, sched);
            void Thread(string name, Func<KTask> body)
            {
                var t = sched.Spawn(name, body);
                if (mode == SchedulerMode.Coarse)
                {
                    sched.RunToCompletion(t);
                }
                else
                {
                    sched.RunUntilIdle();
                }
            }

            foreach (var d in k.Devices)
            {
                Thread("add", () => k.DeviceAdd(d));
            }

            foreach (var name in new[] { "dwc3_0_dart_1", "usb_drd0", "dwc3_0_dart_0" })
            {
                Thread("probe", () => k.DriverProbeDevice(k.Devices.Single(d => d.Name == name)));
                while (k.WorkQueued)
                {
                    Thread("work", k.DeferredProbeWork);
                }
            }

            var o = OutcomeBuilder.Of(k, k.Devices.Single(d => d.Name == "usb_drd0"));
            return $"{o.Class} {o.Dma} {string.Join(",", o.GroupCoverage)} points>{(sched.Points > 0 ? 0 : 1)}";
        }

        Assert.Equal(Run(SchedulerMode.Coarse), Run(SchedulerMode.Fine));
    }

    /// <summary>
    /// S-R1 (spec §5.6; Jason's cover letter 0-v2-36a0088ecaa7+22c6e-iommu_fwspec_jgg@nvidia.com, fixed by a2e7e59a9426):
    /// PROBE(dcp) allocates dev->iommu in iommu_fwspec_init without the lock; the REG walk's failed probe frees it.
    /// </summary>
    [Theory]
    [InlineData("K66", true)]
    [InlineData("K67", false)]
    public void S_R1_concurrent_walk_frees_dev_iommu_under_fwspec_init_only_without_the_configure_lock(string profile, bool crash)
    {
        var platform = KernelRun.Platform("single-dart.dts");
        var chooser = new PhaseChooser(
            // REG(dcp_dart): registered, stopped before the walk locks for its first device.
            ("probe dcp_dart", t => t.Footprint.Any(a => a.Object.Kind == ObjectKind.InstanceList && a.Kind == AccessKind.Write) && AtAcquire(t, ObjectKind.ProbeLock, 1)),
            // PROBE(dcp): stop right after dev_iommu_get() allocated dev->iommu, before the fwspec is installed.
            ("probe dcp", t => t.Footprint.Count(a => a.Object.Kind == ObjectKind.DevIommu && a.Kind == AccessKind.Write) == 2),
            // The walk reaches dcp: bus ops → apple probe_device (no cfg yet) fails → dev_iommu_free.
            ("probe dcp_dart", t => t.State == KThreadState.Done));
        var sched = new Scheduler(SchedulerMode.Fine, chooser, record: true);
        var k = new Model.Kernel.Kernel(platform, KernelRun.Profile(profile).Switches, sched);
        foreach (var d in k.Devices)
        {
            sched.Spawn($"device_add {d.Name}", () => k.DeviceAdd(d));
        }

        sched.RunUntilIdle();
        sched.Spawn("probe dcp_dart", () => k.DriverProbeDevice(k.Devices.Single(d => d.Name == "dcp_dart")));
        sched.Spawn("probe dcp", () => k.DriverProbeDevice(k.Devices.Single(d => d.Name == "dcp")));
        sched.RunUntilIdle();
        Assert.Equal(crash, k.Crashes.Count > 0);
        Assert.Equal(crash, Invariants.CheckAll(k).Any(v => v.Invariant == "I13" && v.Message.Contains("crash", StringComparison.Ordinal)));
    }

    private static Model.Kernel.Kernel RunAgainstWalk(string fixture, string profile, string[] before, string walker, string prober, params string[] sets)
    {
        var platform = KernelRun.Platform(fixture);
        var chooser = new PhaseChooser(
            // The registration is on the list and its walk is about to lock for its first device.
            (walker, t => t.Footprint.Any(a => a.Object.Kind == ObjectKind.InstanceList && a.Kind == AccessKind.Write) && AtAcquire(t, ObjectKind.ProbeLock, 1)),
            // The consumer's whole driver probe runs inside the walk window.
            (prober, t => t.State == KThreadState.Done));
        var sched = new Scheduler(SchedulerMode.Fine, chooser, record: true);
        var k = new Model.Kernel.Kernel(platform, KernelRun.Profile(profile, sets).Switches, sched);
        Model.Kernel.Device Dev(string name) => k.Devices.Single(d => d.Name == name);
        foreach (var d in k.Devices)
        {
            sched.Spawn($"device_add {d.Name}", () => k.DeviceAdd(d));
        }

        sched.RunUntilIdle();
        foreach (var name in before)
        {
            sched.Spawn($"probe {name}", () => k.DriverProbeDevice(Dev(name)));
            sched.RunUntilIdle();
        }

        sched.Spawn(walker, () => k.DriverProbeDevice(Dev(walker["probe ".Length..])));
        sched.Spawn(prober, () => k.DriverProbeDevice(Dev(prober["probe ".Length..])));
        sched.RunUntilIdle();
        while (k.WorkQueued)
        {
            sched.Spawn("deferred_probe_work", k.DeferredProbeWork);
            sched.RunUntilIdle();
        }

        return k;
    }

    /// <summary>S-JH (spec §5.6; Johan Hovold, fixed by da33e87bd2bf): the replay probes D before the walk reaches it.</summary>
    [Theory]
    [InlineData("K615", true)]
    [InlineData("K616", false)]
    public void S_JH_probe_during_the_walk_is_a_late_probe_at_driver_bind_in_k615_only(string profile, bool late)
    {
        var k = RunAgainstWalk("single-dart.dts", profile, [], "probe dcp_dart", "probe dcp");
        Assert.Equal(late, k.LateProbes.Any(p => p.Device.Name == "dcp" && p.Path == ProbePath.Replay));
        Assert.DoesNotContain(k.LateProbes, p => p.Path != ProbePath.Replay);
        Assert.Equal(DriverState.Bound, k.Devices.Single(d => d.Name == "dcp").State);
    }

    /// <summary>
    /// S-TA (spec §5.6; Tudor Ambarus 20260323-iommu-ready-check-v1-1-5f6fef8f9f59@linaro.org): the first DART's
    /// xlate allocates dev->iommu, so the second DART, still walking, skips the ready check and the replay probes the
    /// device inside that walk. The unconditional check removes the race but also every walk-path parse, so the probe
    /// always happens late, from the retry after the walk (Robin, 13510f0d-fa8e-4094-af45-aeef59b128b3@arm.com).
    /// </summary>
    [Theory]
    [InlineData("WhenNoDevIommu", "probe usb_drd0", true)]
    [InlineData("Always", "deferred_probe_work", false)]
    public void S_TA_second_iommu_of_a_multi_iommu_device_bypasses_the_ready_check_in_k616(string readyCheck, string lateProbeThread, bool skipped)
    {
        var k = RunAgainstWalk("usb-two-darts.dts", "K616", ["dwc3_0_dart_0"], "probe dwc3_0_dart_1", "probe usb_drd0", $"ReadyCheck={readyCheck}");
        var late = Assert.Single(k.LateProbes, p => p.Device.Name == "usb_drd0");
        Assert.Equal(lateProbeThread, k.Events[late.Event].Thread);
        Assert.Equal(skipped, k.Events.Any(e => e.Device == "usb_drd0" && e.Message.Contains("readiness check skipped", StringComparison.Ordinal) && e.Thread == "probe usb_drd0"));
        var usb = k.Devices.Single(d => d.Name == "usb_drd0");
        Assert.Equal(DriverState.Bound, usb.State);
        Assert.Equal(2, OutcomeBuilder.Of(k, usb).GroupCoverage.Count);
    }
}
