using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using IommuLab.Model.Kernel;

namespace IommuLab.Model.Exploration;

/// <summary>How finely kernel activity is interleaved.</summary>
public enum Granularity
{
    /// <summary>Coarse events (REG, BIND, PROBE, deferred-work passes, LATE): each runs atomically.</summary>
    Coarse,

    /// <summary>Every scheduling point of the model (shared-state access, lock operation) is a step.</summary>
    Fine,
}

/// <summary>
/// The kernel as an explorable system (docs/traces.md): boot adds every device (of_platform_populate), then the
/// processes of one cluster run in the order the explorer chooses: per IOMMU instance REG then BIND, per consumer one
/// PROBE, LATE when the run starts before late_initcall, and one process per deferred-work pass, created by the step
/// that queued the work. Each execution builds a fresh <see cref="Kernel"/> from the immutable platform.
/// </summary>
public sealed class KernelSystem : IExplorable
{
    public KernelSystem(Platform platform, Profile profile, Granularity granularity, Cluster cluster, bool narrate = false)
    {
        ArgumentNullException.ThrowIfNull(platform);
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(cluster);
        Platform = platform;
        Profile = profile;
        Granularity = granularity;
        Cluster = cluster;
        Narrate = narrate;
        Paths = cluster.Paths(platform);
        Scans = DeviceAddOrder.Scans(platform, cluster);
        Scanned = [.. Scans.SelectMany(s => s.Steps.SelectMany(x => x))];
        for (var i = 0; i < platform.Devices.Count; i++)
        {
            if (platform.Devices[i].Index != i)
            {
                _positions = platform.Devices.Select((d, n) => (d.Index, n)).ToDictionary(x => x.Index, x => x.n);
                break;
            }
        }
    }

    /// <summary>Device number → position, when they differ (a restricted platform keeping the tree's numbers).</summary>
    private readonly Dictionary<int, int>? _positions;

    /// <summary>The position in Platform.Devices of the device numbered <paramref name="index"/> (object ids are numbers).</summary>
    internal int PositionOf(int index) => _positions is null ? index : _positions.GetValueOrDefault(index, -1);

    public Platform Platform { get; }

    public Profile Profile { get; }

    public Granularity Granularity { get; }

    public Cluster Cluster { get; }

    /// <summary>Record a state snapshot after every step (replay), not only the outcome.</summary>
    public bool Narrate { get; }

    /// <summary>
    /// Skip formatting trace, debug and info log lines (<see cref="Kernel.Kernel.KeepsLogText"/>): for a caller that
    /// reads only the outcome, its facts and violations, as a scan does.
    /// </summary>
    public bool QuietLog { get; init; }

    internal ImmutableHashSet<string> Paths { get; }

    /// <summary>The process keys and step names a device's processes carry (its PROBE as a consumer, its REG as an instance).</summary>
    internal sealed record DeviceNames(string ProbeKey, string Probe, string RegKey, string Reg, string RegBind, string Bind);

    private DeviceNames?[]? _names;

    /// <summary>
    /// The names of the device at <paramref name="position"/>, built once per system rather than in every execution
    /// (two threads filling one slot build equal names).
    /// </summary>
    internal DeviceNames NamesOf(int position, Device dev)
    {
        var names = _names ??= new DeviceNames?[Platform.Devices.Count];
        return names[position] ??= Make(dev);

        static DeviceNames Make(Device dev)
        {
            var label = KernelSystemRun.Label(dev);
            return new($"probe:{dev.Info.Path}", $"PROBE({label})", $"reg:{dev.Info.Path}", $"REG({label})", $"REG/BIND({label})", $"BIND({label})");
        }
    }

    /// <summary>The most points one coarse step (or the boot) recorded so far: sizes the next run's record once.</summary>
    internal int PointsSeen { get; set; }

    /// <summary>The point record a finished run gave back, for the next run (null: none waiting).</summary>
    internal List<(int Thread, Access Access)>? SpareRecord;

    /// <summary>The largest coarse label so far: sizes the next run's label set once.</summary>
    internal int LabelSeen { get; set; }

    /// <summary>The DT host bridges' scans that add this cluster's PCI consumers (<see cref="DeviceAddOrder.Scans"/>).</summary>
    internal IReadOnlyList<(int Bridge, ImmutableArray<ImmutableArray<int>> Steps)> Scans { get; }

    /// <summary>The positions of the devices those scans add (not added at boot).</summary>
    internal ImmutableHashSet<int> Scanned { get; }

    public IExplorableRun Start() => new KernelSystemRun(this);

    /// <summary>The same system with per-step snapshots on.</summary>
    public KernelSystem Narrating() => new(Platform, Profile, Granularity, Cluster, narrate: true);
}

/// <summary>One step as the narration shows it: what ran, the kernel log lines it produced, the state after it.</summary>
public sealed record NarratedStep(int Index, string Name, string Phase, int FirstEvent, int EventCount, IReadOnlyList<string> State);

/// <summary>One execution of a <see cref="KernelSystem"/>.</summary>
public sealed class KernelSystemRun : IExplorableRun
{
    private readonly KernelSystem _system;
    private readonly List<Proc> _procs = [];
    private readonly List<ProcessInfo> _infos = [];
    private readonly List<NarratedStep> _narration = [];
    private readonly KMutex _workItem;
    private readonly List<string?> _lateWalking = [];
    private readonly List<Device> _ownRegs = [];
    private readonly HashSet<int> _probeAdded = [];
    private bool[]? _noIommuBefore;
    private readonly List<Access> _label;
    private readonly HashSet<ulong> _labelSeen;
    private int _lateSeen;
    private bool _earlyTimeout;

    private sealed class Proc(ProcessInfo info, List<(string Name, Func<KTask> Body)> bodies, bool isWork)
    {
        public ProcessInfo Info { get; } = info;

        public List<(string Name, Func<KTask> Body)> Bodies { get; } = bodies;

        public int Next { get; set; }

        public int Steps { get; set; }

        public KThread? Thread { get; set; }

        public bool IsWork { get; } = isWork;

        /// <summary>A work pass that has not yet taken the queued work (cleared <c>WorkQueued</c>).</summary>
        public bool Awaiting { get; set; } = isWork;

        public bool Done => Next >= Bodies.Count;
    }

    internal KernelSystemRun(KernelSystem system)
    {
        _system = system;
        var fine = system.Granularity == Granularity.Fine;
        // Boot passes about 20 points per device (of_platform_populate plus the notifiers).
        Sched = new Scheduler(fine ? SchedulerMode.Fine : SchedulerMode.Coarse, fine ? new FirstEnabled() : null, record: true, capacity: Math.Max(32 * system.Platform.Devices.Count, system.PointsSeen), buffer: Interlocked.Exchange(ref system.SpareRecord, null));
        _label = new List<Access>(system.LabelSeen);
        _labelSeen = new HashSet<ulong>(system.LabelSeen);
        Kernel = new Kernel.Kernel(system.Platform, system.Profile.Switches, Sched) { KeepsLogText = !system.QuietLog || system.Narrate };
        _workItem = Sched.Mutex(new KObject(ObjectKind.WorkItem, 0), "deferred_probe_work");
        var k = Kernel;

        // Boot: of_platform_populate (and the ACPI scan) adds every device, except the PCI functions a DT host
        // bridge's scan adds: those are ADD steps of the cluster's scan processes (DeviceAddOrder).
        // Scans and cluster members are positions in k.Devices (a restricted platform may keep the tree's numbers).
        var scans = system.Scans;
        var scanned = system.Scanned;
        var first = k.Events.Count;
        for (var i = 0; i < k.Devices.Count; i++)
        {
            if (!scanned.Contains(i))
            {
                var d = k.Devices[i];
                Complete(Sched.Spawn($"device_add {d.Name}", () => k.DeviceAdd(d)));
            }
        }

        Note("boot: of_platform_populate", "boot", first);
        system.PointsSeen = Math.Max(system.PointsSeen, Sched.Steps.Count);

        // Fine mode explores the cluster's own races; the foreign registration stands in coarse mode only.
        var foreign = !fine && Clusters.ForeignWalksMatter(system.Profile.Switches) ? system.Cluster.Foreign : [];
        foreach (var ix in system.Cluster.Instances.Concat(foreign))
        {
            var inst = k.Instances[ix];
            if (inst.Info.Availability == DriverAvailability.Absent)
            {
                continue;
            }

            var dev = k.Devices[inst.Info.Device];
            var names = system.NamesOf(inst.Info.Device, dev);
            if (foreign.Contains(ix))
            {
                // A foreign registration: its walk reaches this cluster's devices; it is never bound here (a
                // driver_bound() trigger only retries deferred devices, as the cluster's own BINDs do).
                k.BindHeld.Add(dev);
                Add(names.RegKey, names.Reg, [(names.Reg, () => k.DriverProbeDevice(dev))]);
                continue;
            }

            if (fine)
            {
                Add(names.RegKey, names.Reg, [(names.Reg, () => k.DriverProbeDevice(dev))]);
            }
            else
            {
                // REG(X) then BIND(X): driver_bound() waits for the BIND step (spec §0.3).
                k.BindHeld.Add(dev);
                Add(names.RegKey, names.RegBind,
                [
                    (names.Reg, () => k.DriverProbeDevice(dev)),
                    (names.Bind, () => dev.State != DriverState.Bound && dev.HasDriverSet ? k.DriverBound(dev) : KTask.Completed),
                ]);
            }

            _ownRegs.Add(dev);
        }

        foreach (var (bridge, steps) in scans)
        {
            Add($"scan:{k.Devices[bridge].Info.Path}", $"pci_host_probe({Label(k.Devices[bridge])})",
                [.. steps.Select(fs => ($"ADD({Label(k.Devices[fs.First(f => system.Cluster.Consumers.Contains(f))])})", (Func<KTask>)(() => AddAll(fs))))]);
        }

        foreach (var c in system.Cluster.Consumers)
        {
            var dev = k.Devices[c];
            if (dev.Info.HasDriver && !scanned.Contains(c))
            {
                AddProbe(c);
            }
        }

        // The deferred-probe timeout as a choice (coarse mode): it can expire before an IOMMU driver module of the
        // cluster is loaded (more than a timeout period after the previous driver_register(), which re-arms it),
        // where the platform says such a module can load that late (knob module-after-timeout).
        if (!fine && _ownRegs.Any(d => d.Info.DriverAvailability == DriverAvailability.Module && d.Info.Instance is { } i && system.Platform.Instances[i].ModuleAfterTimeout)
            && system.Platform.Knobs.DeferredProbeTimeoutSeconds > 0)
        {
            Add("timeout", "TIMEOUT", [("TIMEOUT", TimeoutChoice)]);
        }

        if (!system.Platform.Knobs.AfterLateInitcall)
        {
            Add("late", "LATE", [("LATE", k.LateInitcall)]);
        }
    }

    public Kernel.Kernel Kernel { get; }

    public Scheduler Sched { get; }

    public KernelSystem System => _system;

    /// <summary>Every step with its kernel log lines (boot, the explored steps, the epilogue).</summary>
    public IReadOnlyList<NarratedStep> Narration => _narration;

    public IReadOnlyList<ProcessInfo> Processes => _infos;

    public bool IsEnabled(int process)
    {
        var p = _procs[process];
        return !p.Done && (p.Thread is null || Sched.IsEnabled(p.Thread));
    }

    public StepInfo Step(int process)
    {
        var p = _procs[process];
        var k = Kernel;
        k.Step = _narration.Count;
        var firstEvent = k.Events.Count;
        var (bodyName, body) = p.Bodies[p.Next];
        ImmutableArray<Access> accesses;
        string name;
        if (Sched.Mode == SchedulerMode.Coarse)
        {
            Sched.ForgetSteps();
            var noIommuBefore = NoDevIommu(k, _noIommuBefore ??= new bool[k.Devices.Count]);
            Complete(Sched.Spawn(bodyName, body));
            // A coarse step takes and releases its locks inside itself: no lock state is visible between steps, so
            // lock operations are not part of its label (only the objects it reads and writes are).
            // Nor are snapshot reads: the step compares them only with its own later reads.
            _label.Clear();
            _labelSeen.Clear();
            foreach (ref readonly var point in Sched.StepSpan)
            {
                var access = point.Access;
                if (access.IsLockOp || access.Kind == AccessKind.Snapshot)
                {
                    continue;
                }

                var a = UnchangedDevIommu(k, access, noIommuBefore, _system) ? access with { Kind = AccessKind.Read } : access;
                if (_labelSeen.Add(Packed(a)))
                {
                    _label.Add(a);
                }
            }

            accesses = [.. _label];
            _system.LabelSeen = Math.Max(_system.LabelSeen, _label.Count);
            _system.PointsSeen = Math.Max(_system.PointsSeen, Sched.Steps.Count);
            p.Next++;
            name = bodyName;
        }
        else
        {
            if (p.Thread is null)
            {
                p.Thread = Sched.Spawn(bodyName, body);
                accesses = [];
                name = $"{bodyName}: start";
            }
            else
            {
                var a = p.Thread.Pending!.Value;
                accesses = [a];
                name = $"{bodyName}: {a}";
            }

            Sched.RunStep(p.Thread);
            if (p.Thread.State == KThreadState.Done)
            {
                p.Thread = null;
                p.Next++;
            }
        }

        // Whether each new late probe raced a registration walk (an instance of F(D) registered but not ready yet).
        while (_lateSeen < k.LateProbes.Count)
        {
            var dev = k.LateProbes[_lateSeen++].Device;
            var walking = OutcomeBuilder.FirmwareRefs(dev.Info).Select(r => k.InstanceOf(r)).FirstOrDefault(i => i is { Registered: true, Ready: false });
            _lateWalking.Add(walking?.Name);
        }

        var seq = p.Steps++;
        if (p.Awaiting && (p.Done || !k.WorkQueued))
        {
            p.Awaiting = false;
        }

        // Usually nothing is created: the builder is made only when something is.
        ImmutableArray<int>.Builder? spawned = null;
        // Only consumers a host bridge's scan adds can appear here (the others got their PROBE at the start).
        foreach (var c in _system.Scanned.Count == 0 ? [] : _system.Cluster.Consumers)
        {
            var dev = k.Devices[c];
            if (dev.Added && dev.Info.HasDriver && _system.Scanned.Contains(c) && _probeAdded.Add(c))
            {
                // device_add() of a PCI function: its driver probe can run from now on.
                (spawned ??= ImmutableArray.CreateBuilder<int>()).Add(_procs.Count);
                AddProbe(c);
            }
        }

        if (k.WorkQueued && !_procs.Any(q => q.Awaiting))
        {
            (spawned ??= ImmutableArray.CreateBuilder<int>()).Add(_procs.Count);
            Add($"work<{p.Info.Key}#{seq}>", "deferred_probe_work", [("WORK", WorkPass)], isWork: true);
        }

        Note(name, "step", firstEvent);
        return new StepInfo(name, accesses, spawned?.ToImmutable() ?? []);
    }

    public RunOutcome Finish()
    {
        var k = Kernel;
        if (k.Pending.Count > 0 && _system.Platform.Knobs.DeferredProbeTimeout > 0 && k.InitcallsDone && !k.TimeoutExpired)
        {
            k.Step = _narration.Count;
            var first = k.Events.Count;
            Complete(Sched.Spawn("deferred_probe_timeout", k.DeferredProbeTimeoutWork));
            Note("TIMEOUT", "epilogue", first);
        }

        while (k.WorkQueued)
        {
            k.Step = _narration.Count;
            var first = k.Events.Count;
            if (!Complete(Sched.Spawn("deferred_probe_work", k.DeferredProbeWork)))
            {
                break;
            }

            Note("WORK", "epilogue", first);
        }

        var outcome = Outcome();

        // Nothing runs after the outcome: the next execution records into this run's list.
        if (Sched.TakeRecord() is { } record)
        {
            _system.SpareRecord = record;
        }

        return outcome;
    }

    private RunOutcome Outcome()
    {
        var k = Kernel;
        using var frozen = OutcomeBuilder.Freeze(k);
        var facts = ImmutableArray.CreateBuilder<string>();
        foreach (var c in _system.Cluster.Consumers)
        {
            facts.Add(Fact(k, k.Devices[c]));
        }

        foreach (var ix in _system.Cluster.Instances)
        {
            if (k.Instances[ix].RegistrationFailed)
            {
                facts.Add($"{k.Instances[ix].Info.Path} registration-failed");
            }
        }

        foreach (var t in Sched.Deadlocked())
        {
            facts.Add($"deadlock {t.Name}");
        }

        // Each violation under its device's path (a WARN names the device), kept when it is about this cluster.
        var paths = _system.Paths;
        var violations = new List<Violation>();
        foreach (var found in Invariants.CheckAll(k).Concat(ExecutionChecks.Check(k, _lateWalking)))
        {
            var v = found.Device.StartsWith('/') ? found : found with { Device = k.Devices.FirstOrDefault(d => d.Name == found.Device)?.Info.Path ?? found.Device };
            if (paths.Contains(v.Device) && !(_earlyTimeout && v.Invariant == "IDMA" && BoundWithoutIommu(k, v.Device)))
            {
                violations.Add(v);
            }
        }

        return new RunOutcome(facts.ToImmutable(), violations) { EarlyTimeout = _earlyTimeout };
    }

    /// <summary>
    /// After the timeout the driver core binds a device without its missing IOMMU on purpose (spec I7: N is the
    /// expected class then), so its DMA not reaching memory through a DART that never took it is not reported.
    /// </summary>
    private static bool BoundWithoutIommu(Kernel.Kernel k, string path) =>
        k.Devices.FirstOrDefault(d => d.Info.Path == path) is { } d && OutcomeBuilder.Of(k, d).Class == DeviceClass.N;

    /// <summary>The I5 facts of one consumer: class, DMA ops, group partition (by first member), domain type, coverage, configured set.</summary>
    internal static string Fact(Kernel.Kernel k, Device d)
    {
        var o = OutcomeBuilder.Of(k, d);

        // The group by its first member path in ordinal order.
        string? group = null;
        foreach (var x in d.Group?.Devices ?? [])
        {
            if (group is null || string.CompareOrdinal(x.Info.Path, group) < 0)
            {
                group = x.Info.Path;
            }
        }

        // What $"{o.Path} {o.Class} dma={o.Dma} group={group} domain={type} covers={...} configured={...}" formats.
        var fact = new DefaultInterpolatedStringHandler(0, 0);
        fact.AppendFormatted(o.Path);
        fact.AppendLiteral(" ");
        fact.AppendFormatted(o.Class);
        fact.AppendLiteral(" dma=");
        fact.AppendFormatted(o.Dma);
        fact.AppendLiteral(" group=");
        fact.AppendFormatted(group ?? "-");
        fact.AppendLiteral(" domain=");
        fact.AppendFormatted(d.Group?.Domain?.Type.ToString() ?? "-");
        fact.AppendLiteral(" covers=");
        Join(ref fact, o.GroupCoverage);
        fact.AppendLiteral(" configured=");
        Join(ref fact, o.Configured);
        return fact.ToStringAndClear();
    }

    /// <summary>Appends {instance:id,...} as string.Join of the refs would, without a string per ref.</summary>
    private static void Join(ref DefaultInterpolatedStringHandler s, IReadOnlyList<StreamRef> refs)
    {
        s.AppendLiteral("{");
        for (var i = 0; i < refs.Count; i++)
        {
            if (i > 0)
            {
                s.AppendLiteral(",");
            }

            s.AppendFormatted(refs[i].Instance);
            s.AppendLiteral(":");
            s.AppendFormatted(refs[i].Id);
        }

        s.AppendLiteral("}");
    }

    internal static string Label(Device d) => d.Info.Labels.FirstOrDefault() ?? d.Info.Path;

    private async KTask WorkPass()
    {
        if (Sched.Mode == SchedulerMode.Fine)
        {
            // One work item: a second pass waits for the first (a work_struct never runs concurrently with itself).
            await Sched.Lock(_workItem);
            await Kernel.DeferredProbeWork();
            await Sched.Unlock(_workItem);
        }
        else
        {
            await Kernel.DeferredProbeWork();
        }
    }

    /// <summary>An access as one number (object id, object kind, access kind; both enums are far below 256), for the label's set.</summary>
    private static ulong Packed(Access a) => (uint)a.Object.Id | ((ulong)(byte)a.Object.Kind << 32) | ((ulong)(byte)a.Kind << 40);

    /// <summary>Which devices have no dev->iommu now, written into <paramref name="r"/> (one buffer per run).</summary>
    private static bool[] NoDevIommu(Kernel.Kernel k, bool[] r)
    {
        for (var i = 0; i < r.Length; i++)
        {
            r[i] = k.Devices[i].Iommu is null;
        }

        return r;
    }

    /// <summary>
    /// A coarse step that found dev->iommu NULL and leaves it NULL (iommu_init_device() allocating it for a walk's
    /// probe_device() that refuses the device, then freeing it) stored nothing another step can see: a read.
    /// </summary>
    private static bool UnchangedDevIommu(Kernel.Kernel k, Access a, bool[] noIommuBefore, KernelSystem system) =>
        a is { Kind: AccessKind.Write, Object.Kind: ObjectKind.DevIommu } && system.PositionOf(a.Object.Id) is var i
        && (uint)i < (uint)noIommuBefore.Length && noIommuBefore[i] && k.Devices[i].Iommu is null;

    private async KTask AddAll(ImmutableArray<int> devices)
    {
        foreach (var d in devices)
        {
            await Kernel.DeviceAdd(Kernel.Devices[d]);
        }
    }

    /// <summary>The PROBE process of the consumer at position <paramref name="c"/>.</summary>
    private void AddProbe(int c)
    {
        var dev = Kernel.Devices[c];
        var names = _system.NamesOf(c, dev);
        Add(names.ProbeKey, names.Probe, [(names.Probe, () => Kernel.DriverProbeDevice(dev))]);
    }

    /// <summary>
    /// Models deferred_probe_timeout_work_func() running before every IOMMU driver module of the cluster has
    /// loaded; once they all have, the step does nothing and the timeout is left to the epilogue (spec I5 compares
    /// outcomes "without timeout"; an early timeout is checked against the per-execution invariants, I7 included).
    /// </summary>
    private async KTask TimeoutChoice()
    {
        var pending = false;
        // Only whether each module is loaded is read: once all are, this step commutes with everything but the loads.
        foreach (var dev in _ownRegs.DistinctBy(d => d.Info.DriverName))
        {
            await Kernel.Read(ObjectKind.DriverModule, _system.Platform.DriverId(dev.Info.DriverName));
            pending |= Kernel.DriverModulePending(dev);
        }

        if (pending)
        {
            await Kernel.DeferredProbeTimeoutFires();
            _earlyTimeout = Kernel.TimeoutExpired;
        }
    }

    private void Add(string key, string name, List<(string, Func<KTask>)> bodies, bool isWork = false)
    {
        _procs.Add(new Proc(new ProcessInfo(key, name), bodies, isWork));
        _infos.Add(_procs[^1].Info);
    }

    /// <summary>Runs a thread to its end; false if it blocked on a lock nobody will release.</summary>
    private bool Complete(KThread t)
    {
        while (t.State != KThreadState.Done)
        {
            if (!Sched.IsEnabled(t))
            {
                return false;
            }

            Sched.RunStep(t);
        }

        return true;
    }

    private void Note(string name, string phase, int firstEvent)
    {
        IReadOnlyList<string> state = [];
        if (_system.Narrate)
        {
            var k = Kernel;
            state = [.. _system.Cluster.Consumers.Select(c =>
            {
                var d = k.Devices[c];
                var o = OutcomeBuilder.Of(k, d);
                return $"{o.Name}: {o.DriverState}, dev->iommu {o.DevIommu} {o.Fwspec}, priv {o.Priv}, group {(o.Group is null ? "none" : $"{o.Group} ({o.Domain ?? "no domain"})")}, DMA {o.Dma}";
            })];
        }

        _narration.Add(new NarratedStep(_narration.Count, name, phase, firstEvent, Kernel.Events.Count - firstEvent, state));
    }

    private sealed class FirstEnabled : IThreadChooser
    {
        public int Choose(IReadOnlyList<KThread> enabled) => 0;
    }
}

/// <summary>Per-execution checks the explorer adds to spec §7's I1-I4, I6-I15: I17 and the I4 switch underneath a driver.</summary>
public static class ExecutionChecks
{
    /// <param name="k">The quiescent kernel.</param>
    /// <param name="walking">Per late probe (in order), the instance whose registration walk was still running then, if any.</param>
    public static IEnumerable<Violation> Check(Kernel.Kernel k, IReadOnlyList<string?>? walking = null)
    {
        ArgumentNullException.ThrowIfNull(k);
        for (var i = 0; i < k.LateProbes.Count; i++)
        {
            var (dev, _, path) = k.LateProbes[i];
            var during = walking is not null && i < walking.Count ? walking[i] : null;
            // The walk's own probe is in device order; only a replay or notifier probe during a walk is S-JH/S-TA.
            yield return (during, path) switch
            {
                (null, _) => new Violation("I17", dev.Info.Path, ["__iommu_probe_device() ran for a device with a driver", $"probed by the {path.ToString().ToLowerInvariant()} path"], "late IOMMU probe at driver bind (WARN), after the registration walks"),
                (_, ProbePath.Walk) => new Violation("I17", dev.Info.Path, ["__iommu_probe_device() ran for a device with a driver", $"probed by {during}'s bus_iommu_probe() itself, in device order", "dev->driver was set by a concurrent really_probe() while the walk had dropped iommu_probe_device_lock for dma_configure"], $"late IOMMU probe at driver bind (WARN) from {during}'s own registration walk: a concurrent driver probe set dev->driver"),
                _ => new Violation("I17", dev.Info.Path, ["__iommu_probe_device() ran for a device with a driver", $"probed by the {path.ToString().ToLowerInvariant()} path", $"{during} registered, its walk still running"], $"late IOMMU probe at driver bind (WARN) while {during}'s registration walk is running"),
            };
        }

        foreach (var e in k.Events)
        {
            if (e.Level == EventLevel.Warn && e.Function == "iommu_setup_dma_ops" && e.Device is { } name && Named(k, name) is { } dev)
            {
                yield return new Violation("I4", dev.Info.Path, [e.Message], "DMA ops changed under a bound driver that started with the other ops");
            }
        }
    }

    // A plain loop: a lambda capturing the name would allocate its closure for every event scanned.
    private static Device? Named(Kernel.Kernel k, string name)
    {
        foreach (var d in k.Devices)
        {
            if (d.Name == name)
            {
                return d;
            }
        }

        return null;
    }
}
