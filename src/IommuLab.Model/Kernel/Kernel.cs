using System.Runtime.CompilerServices;
using IommuLab.Model.Drivers;
using IommuLab.Model.Exploration;

namespace IommuLab.Model.Kernel;

/// <summary>
/// The kernel state of one execution (DESIGN.md "Kernel state"): devices, the instance list, fwspecs, groups,
/// domains, driver-core lists, the ledger and the event log. Created fresh per execution from an immutable
/// <see cref="Platform"/>; its functions model drivers/base/dd.c, drivers/iommu/iommu.c and of_iommu.c.
/// </summary>
public sealed partial class Kernel
{
    private readonly List<KernelEvent> _events = [];
    private readonly List<IommuGroup> _groups = [];
    private readonly List<IommuDomain> _domains = [];
    private readonly Dictionary<IommuDriverKind, IommuDriver> _drivers = [];
    private readonly HashSet<string> _registeredDrivers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _moduleRefs = new(StringComparer.Ordinal);

    public Kernel(Platform platform, KernelSwitches switches, Scheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(platform);
        ArgumentNullException.ThrowIfNull(switches);
        ArgumentNullException.ThrowIfNull(scheduler);
        Platform = platform;
        Switches = switches;
        Sched = scheduler;
        Devices = [.. platform.Devices.Select(d => new Device(d))];
        Instances = [.. platform.Instances.Select(i => new IommuInstance(i))];
        ProbeLock = scheduler.Mutex(new KObject(ObjectKind.ProbeLock, 0), "iommu_probe_device_lock");
        DeferredProbeEnabled = platform.Knobs.AfterLateInitcall;
        InitcallsDone = platform.Knobs.AfterLateInitcall;
        DeferredProbeTimeout = platform.Knobs.DeferredProbeTimeoutSeconds;
        DriversDone = platform.Knobs.AfterLateInitcall && !platform.Knobs.Modules;

        // Clock 0 is the start of the schedule. After late_initcall, its timeout work was just armed.
        if (platform.Knobs.AfterLateInitcall && DeferredProbeTimeout > 0)
        {
            TimeoutDeadline = DeferredProbeTimeout;
        }

        // Built-in drivers registered at their initcalls, before any event of the schedule.
        foreach (var d in platform.Devices.Where(d => d.DriverAvailability == DriverAvailability.BuiltIn))
        {
            _registeredDrivers.Add(d.DriverName);
        }
    }

    public Platform Platform { get; }

    public KernelSwitches Switches { get; }

    /// <summary>
    /// Whether of_iommu_configure()/acpi_iommu_configure_id() hold the probe lock (switch ConfigureTakesProbeLock).
    /// Only lock operations depend on it. A coarse step takes and releases its locks inside itself, where no other
    /// step runs and no label shows them, so in coarse mode the value changes nothing and is not counted as read
    /// (a scan then explores K66 and K67 once: <see cref="SwitchReads"/>). Fine mode interleaves at the lock: read.
    /// </summary>
    internal bool ConfigureTakesProbeLock => Sched.Mode == SchedulerMode.Fine ? Switches.ConfigureTakesProbeLock : Switches.ConfigureTakesProbeLockUnrecorded;

    public Scheduler Sched { get; }

    public IReadOnlyList<Device> Devices { get; }

    public IReadOnlyList<IommuInstance> Instances { get; }

    /// <summary>The platform bus's device list in device_add() order (bus_for_each_dev order).</summary>
    public List<Device> Bus { get; } = [];

    /// <summary>The PCI bus's device list in device_add() order; walked after the platform bus.</summary>
    public List<Device> PciBus { get; } = [];

    /// <summary>K66/K67 <c>platform_bus_type.iommu_ops</c>.</summary>
    public IommuDriver? BusOps { get; private set; }

    /// <summary><c>iommu_device_list</c>, in registration order.</summary>
    public List<IommuInstance> InstanceList { get; } = [];

    public KMutex ProbeLock { get; }

    public Ledger Ledger { get; } = new();

    public IReadOnlyList<KernelEvent> Events => _events;

    public IReadOnlyList<IommuGroup> Groups => _groups;

    public IReadOnlyList<IommuDomain> Domains => _domains;

    /// <summary>Index of the schedule step being executed (for the narration).</summary>
    public int Step { get; set; }

    /// <summary>Bugs the model detected in kernel behaviour (use-after-free, NULL dereference): a crash in the real kernel.</summary>
    public List<string> Crashes { get; } = [];

    internal IommuDriver DriverFor(IommuDriverKind kind)
    {
        if (!_drivers.TryGetValue(kind, out var d))
        {
            d = kind switch
            {
                IommuDriverKind.AppleDart => new AppleDart(this),
                _ => new FwspecDriver(this, FwspecDriverModel.For(kind)),
            };
            _drivers.Add(kind, d);
        }

        return d;
    }

    internal void Log(EventLevel level, Device? dev, string function, string message) =>
        _events.Add(new KernelEvent(_events.Count, Step, Sched.Current?.Name ?? "-", level, dev?.Name, function, message));

    /// <summary>The same, formatting an interpolated message only when it is kept (<see cref="KeepsLogText"/>).</summary>
    internal void Log(EventLevel level, Device? dev, string function, [InterpolatedStringHandlerArgument("", "level")] ref KernelLogMessage message) =>
        Log(level, dev, function, message.ToStringAndClear());

    /// <summary>
    /// Whether text only a reader sees is built: trace, debug and info events keep their text, and the DMA check
    /// its register dumps. A scan's exploration never shows them (violations are built from the state, and the I4
    /// check reads only warnings), so it turns this off and skips formatting them; the events themselves, their order
    /// and levels, and every DMA verdict stay. Warnings and errors always keep their text.
    /// </summary>
    public bool KeepsLogText { get; set; } = true;

    internal Point Read(ObjectKind kind, int id = 0) => Sched.At(new KObject(kind, id), AccessKind.Read);

    /// <summary>A read whose value this thread only compares with its own later read (a coarse step never observes it).</summary>
    internal Point Snapshot(ObjectKind kind, int id = 0) => Sched.At(new KObject(kind, id), AccessKind.Snapshot);

    internal Point Write(ObjectKind kind, int id = 0) => Sched.At(new KObject(kind, id), AccessKind.Write);

    internal KMutex GroupMutex(IommuGroup g) => Sched.Mutex(new KObject(ObjectKind.GroupMutex, g.Id), static o => $"group {o.Id} mutex");

    internal int EventIndex => _events.Count;

    internal IommuGroup NewGroup(IommuDriver driver, Device dev)
    {
        var g = new IommuGroup(_groups.Count, driver) { Refs = 1 };
        _groups.Add(g);
        Log(EventLevel.Trace, dev, "iommu_group_alloc", $"allocated {g}");
        return g;
    }

    internal IommuDomain NewDomain(DomainType type, IommuDriver driver)
    {
        var d = new IommuDomain(_domains.Count, type, driver);
        _domains.Add(d);
        return d;
    }

    /// <summary>Instance by fwnode identity.</summary>
    internal IommuInstance? InstanceOf(FwRef r) => r.Instance is { } i ? Instances[i] : null;
}
