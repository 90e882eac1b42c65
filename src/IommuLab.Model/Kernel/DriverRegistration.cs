using IommuLab.Model.Drivers;
using IommuLab.Model.Exploration;

namespace IommuLab.Model.Kernel;

/// <summary>
/// Driver registration, modules and the deferred-probe timer (drivers/base/driver.c, dd.c, kernel/module; spec §2.8).
/// </summary>
/// <remarks>
/// Time is a model clock in whole seconds, 0 at the start of the schedule, that only WAIT(n) and TIMEOUT advance;
/// every other event takes no time. The timeout work is armed (a deadline) by late_initcall when
/// <c>driver_deferred_probe_timeout &gt; 0</c>, re-armed to now + the full period by every driver_register() while it
/// is pending, and fires when the clock reaches the deadline: TIMEOUT advances the clock to the deadline (and does
/// nothing when no timeout is armed), WAIT(n) fires it on the way if the deadline falls inside the n seconds.
/// </remarks>
public sealed partial class Kernel
{
    /// <summary>The model clock in seconds since the start of the schedule.</summary>
    public int Clock { get; private set; }

    /// <summary>When the pending deferred-probe timeout work fires; null when none is armed.</summary>
    public int? TimeoutDeadline { get; private set; }

    /// <summary>The deferred-probe timeout work is pending: a TIMEOUT event can happen.</summary>
    public bool TimeoutArmed => TimeoutDeadline is not null;

    /// <summary>Drivers that have gone through driver_register() (built-in ones at their initcall, before the schedule).</summary>
    public IReadOnlySet<string> RegisteredDrivers => _registeredDrivers;

    /// <summary>Module reference counts taken by try_module_get() on an IOMMU driver module and not yet put.</summary>
    public IReadOnlyDictionary<string, int> ModuleRefs => _moduleRefs;

    /// <summary>The device's driver is registered (a driver that matches it exists on the bus).</summary>
    public bool DriverRegistered(Device dev)
    {
        ArgumentNullException.ThrowIfNull(dev);
        return dev.Info.DriverAvailability != DriverAvailability.Absent && _registeredDrivers.Contains(dev.Info.DriverName);
    }

    /// <summary>The device's driver is a module that has not been loaded yet (a LOAD event is possible).</summary>
    public bool DriverModulePending(Device dev)
    {
        ArgumentNullException.ThrowIfNull(dev);
        return dev.Info.DriverAvailability == DriverAvailability.Module && !_registeredDrivers.Contains(dev.Info.DriverName);
    }

    /// <summary>
    /// Models loading the module of the device's driver: its init calls driver_register() (drivers/base/driver.c),
    /// which ends with deferred_probe_extend_timeout(). The probes driver_attach() would start are the separate
    /// REG/PROBE events of the schedule.
    /// </summary>
    public async KTask DriverRegister(Device dev)
    {
        ArgumentNullException.ThrowIfNull(dev);
        // The registration itself is the DriverModule object's write; the lists change only through the re-arm.
        await DeferredListsAccess(false);
        if (!DriverModulePending(dev))
        {
            return;
        }

        await Write(ObjectKind.DriverModule, Platform.DriverId(dev.Info.DriverName));
        _registeredDrivers.Add(dev.Info.DriverName);
        Log(EventLevel.Trace, null, "driver_register", $"module {dev.Info.DriverName} loaded at t={Clock}s: driver registered");
        await DeferredProbeExtendTimeout();
    }

    /// <summary>Models deferred_probe_extend_timeout(): a pending timeout is re-armed for another full period.</summary>
    private async KTask DeferredProbeExtendTimeout()
    {
        // Re-arming to the deadline it already has (the clock has not moved since) changes nothing.
        await DeferredListsAccess(TimeoutDeadline is { } due && due != Clock + DeferredProbeTimeout);
        if (TimeoutDeadline is null)
        {
            return;
        }

        TimeoutDeadline = checked(Clock + DeferredProbeTimeout);
        Log(EventLevel.Debug, null, "deferred_probe_extend_timeout", $"Extended deferred probe timeout by {DeferredProbeTimeout} secs (now fires at t={TimeoutDeadline}s)");
    }

    /// <summary>The clock passes <paramref name="seconds"/>; the timeout work runs on the way if its deadline is reached.</summary>
    public async KTask Wait(int seconds)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(seconds);
        await Write(ObjectKind.DeferredLists);
        var target = checked(Clock + seconds);
        if (TimeoutDeadline is { } deadline && deadline <= target)
        {
            Clock = Math.Max(Clock, deadline);
            await DeferredProbeTimeoutFires();
        }

        Clock = target;
    }

    /// <summary>The armed timeout's deadline is reached (the clock advances to it) and its work runs; else nothing happens.</summary>
    public async KTask DeferredProbeTimeoutFires()
    {
        await Write(ObjectKind.DeferredLists);
        if (TimeoutDeadline is not { } deadline)
        {
            Log(EventLevel.Trace, null, "deferred_probe_timeout_work_func", DeferredProbeTimeout > 0 && !InitcallsDone
                ? "not armed yet: late_initcall has not run"
                : $"no deferred-probe timeout is armed (deferred_probe_timeout={DeferredProbeTimeout}{(TimeoutExpired ? ", already expired" : "")}): nothing happens");
            return;
        }

        Clock = Math.Max(Clock, deadline);
        await DeferredProbeTimeoutWork();
    }

    /// <summary>Models try_module_get(ops->owner): true for a built-in driver (NULL owner) and for a loaded module.</summary>
    /// <remarks>Module unloading is not modelled, so a registered driver's module stays live once loaded.</remarks>
    internal bool TryModuleGet(IommuDriver ops)
    {
        if (!IsModule(ops))
        {
            return true;
        }

        if (!_registeredDrivers.Contains(ops.Name))
        {
            return false;
        }

        _moduleRefs[ops.Name] = _moduleRefs.GetValueOrDefault(ops.Name) + 1;
        return true;
    }

    /// <summary>Models module_put(ops->owner).</summary>
    internal void ModulePut(IommuDriver ops)
    {
        if (IsModule(ops))
        {
            _moduleRefs[ops.Name] = checked(_moduleRefs[ops.Name] - 1);
        }
    }

    /// <summary>The ops' owner is a module (not NULL): the instances this driver drives are modules.</summary>
    private bool IsModule(IommuDriver ops) => ops.OwnerIsModule ??= AnyModularInstance(ops.Name);

    private bool AnyModularInstance(string driverName)
    {
        foreach (var i in Platform.Instances)
        {
            if (i.Availability == DriverAvailability.Module && DtPlatformBuilder.DriverNameOf(i.Driver) == driverName)
            {
                return true;
            }
        }

        return false;
    }
}
