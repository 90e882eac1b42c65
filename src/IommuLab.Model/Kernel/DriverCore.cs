using IommuLab.Model.Exploration;

namespace IommuLab.Model.Kernel;

/// <summary>drivers/base/dd.c and platform.c: probing, deferral, triggers, timeout (spec §2.1, §2.8, §2.9).</summary>
public sealed partial class Kernel
{
    public List<Device> Pending { get; } = [];

    public List<Device> Active { get; } = [];

    public int TriggerCount { get; private set; }

    public bool DeferredProbeEnabled { get; private set; }

    public bool InitcallsDone { get; private set; }

    /// <summary><c>driver_deferred_probe_timeout</c> (seconds; 0 = expired or disabled).</summary>
    public int DeferredProbeTimeout { get; private set; }

    public bool TimeoutExpired { get; private set; }

    /// <summary><c>fw_devlink_drivers_done()</c> has run: optional/strict supplier links to driverless suppliers are dropped.</summary>
    public bool DriversDone { get; private set; }

    /// <summary>The deferred-probe work is queued and has not run yet.</summary>
    public bool WorkQueued { get; private set; }

    /// <summary>IOMMU devices whose driver_bound() waits for an explicit BIND event.</summary>
    public HashSet<Device> BindHeld { get; } = [];

    /// <summary>Models device_add() → BUS_NOTIFY_ADD_DEVICE → iommu_probe_device() (spec §4.1).</summary>
    public async KTask DeviceAdd(Device dev)
    {
        ArgumentNullException.ThrowIfNull(dev);
        await Write(ObjectKind.DevDriver, dev.Index);
        if (dev.Added)
        {
            return;
        }

        dev.Added = true;
        await Write(ObjectKind.BusList, dev.Info.IsPci ? 1 : 0);
        (dev.Info.IsPci ? PciBus : Bus).Add(dev);
        Log(EventLevel.Trace, dev, "device_add", $"added to the {(dev.Info.IsPci ? "pci" : "platform")} bus; BUS_NOTIFY_ADD_DEVICE");
        var ret = await IommuProbeDevice(dev);
        if (ret.IsOk && dev.Group is not null)
        {
            Log(EventLevel.Trace, dev, "iommu_bus_notifier", $"probed into {dev.Group}");
        }
    }

    /// <summary>Models driver_probe_device() / __driver_probe_device() (drivers/base/dd.c).</summary>
    public async KTask DriverProbeDevice(Device dev)
    {
        ArgumentNullException.ThrowIfNull(dev);
        await Read(ObjectKind.DevDriver, dev.Index);
        if (!dev.Added || dev.State is DriverState.Bound or DriverState.Probing || dev.HasDriverSet)
        {
            return;
        }

        if (dev.Info.DriverAvailability == DriverAvailability.Module)
        {
            await Read(ObjectKind.DriverModule, Platform.DriverId(dev.Info.DriverName));
        }

        if (DriverModulePending(dev))
        {
            // A probe attempt with the driver's module not loaded yet: udev's modprobe loads it first (driver_register).
            await DriverRegister(dev);
        }

        if (!DriverRegistered(dev))
        {
            Log(EventLevel.Trace, dev, "bus_probe_device", dev.Info.DriverAvailability == DriverAvailability.Absent
                ? "no driver matches this device"
                : $"no driver matches this device yet (module {dev.Info.DriverName} not loaded)");
            return;
        }

        await Snapshot(ObjectKind.DeferredLists);
        var triggerBefore = TriggerCount;
        dev.State = DriverState.Probing;
        dev.ProbeAttempts++;
        var ret = await ReallyProbe(dev);
        dev.LastProbeError = ret.IsOk ? null : ret;
        if (ret == Errno.EPROBE_DEFER)
        {
            dev.State = DriverState.Deferred;
            await DeferredProbeAdd(dev);
            Log(EventLevel.Debug, dev, "driver_probe_device", $"Driver {DriverName(dev)} requests probe deferral");
            await Read(ObjectKind.DeferredLists);
            if (TriggerCount != triggerBefore)
            {
                await DeferredProbeTrigger();
            }
        }
        else if (ret.IsError)
        {
            dev.State = DriverState.Failed;
            Log(EventLevel.Warn, dev, "call_driver_probe", $"probe with driver {DriverName(dev)} failed with error {ret.Value}");
        }
    }

    private static string DriverName(Device dev) => dev.Info.DriverName;

    /// <summary>Models really_probe(): supplier links, dev->driver, dma_configure, then the driver's probe (spec §2.1).</summary>
    private async KTask<Errno> ReallyProbe(Device dev)
    {
        // fw_devlink makes supplier links from DT properties only; IORT/VIOT references create none.
        if (Platform.Knobs.FwDevlinkStrict && dev.Info.Acpi is null)
        {
            var waiting = await SupplierNotReady(dev);
            if (waiting is not null)
            {
                dev.DeferReason = $"wait for supplier {waiting}";
                Log(EventLevel.Debug, dev, "device_links_check_suppliers", $"probe deferral - wait for supplier {waiting}");
                return Errno.EPROBE_DEFER;
            }
        }

        await Write(ObjectKind.DevDriver, dev.Index);
        dev.HasDriverSet = true;
        var ret = await PlatformDmaConfigure(dev);
        if (ret.IsError)
        {
            await Write(ObjectKind.DevDriver, dev.Index);
            dev.HasDriverSet = false;
            if (ret != Errno.EPROBE_DEFER)
            {
                Log(EventLevel.Error, dev, "really_probe", $"dma_configure failed: {ret}");
            }

            return ret;
        }

        ret = dev.Info.Instance is { } ix ? await IommuDriverProbe(Instances[ix]) : Errno.Ok;
        if (ret.IsError)
        {
            await Write(ObjectKind.DevDriver, dev.Index);
            dev.HasDriverSet = false;
            dev.Dma = DmaMode.Unset;
            return ret;
        }

        if (BindHeld.Contains(dev))
        {
            Log(EventLevel.Trace, dev, "really_probe", "probe returned 0; driver_bound() waits for BIND");
            return Errno.Ok;
        }

        await DriverBound(dev);
        return Errno.Ok;
    }

    /// <summary>Models driver_bound(): the device is bound and every deferred device is retried.</summary>
    public async KTask DriverBound(Device dev)
    {
        ArgumentNullException.ThrowIfNull(dev);
        await Write(ObjectKind.DevDriver, dev.Index);
        BindHeld.Remove(dev);
        dev.State = DriverState.Bound;
        if (dev.Dma == DmaMode.Unset)
        {
            dev.Dma = dev.DmaIommuFlag ? DmaMode.IommuDma : DmaMode.Direct;
        }

        Log(EventLevel.Info, dev, "driver_bound", $"bound to {DriverName(dev)} ({(dev.Dma == DmaMode.IommuDma ? "iommu-dma" : "direct DMA")})");
        await DeferredProbeDel(dev);
        await DeferredProbeTrigger();
    }

    /// <summary>Models device_links_check_suppliers() for the IOMMU suppliers of fw_devlink.strict=1.</summary>
    private async KTask<string?> SupplierNotReady(Device dev)
    {
        foreach (var r in dev.Info.Iommus.Refs)
        {
            if (!r.TargetAvailable || r.Instance is not { } ix)
            {
                continue;
            }

            var inst = Instances[ix];
            var supplier = Devices[inst.Info.Device];
            await Read(ObjectKind.DevDriver, supplier.Index);
            var noDriver = !DriverRegistered(supplier);
            if (supplier.State != DriverState.Bound && !(DriversDone && (noDriver || supplier.State == DriverState.Failed)))
            {
                return supplier.Info.Path;
            }
        }

        return null;
    }

    /// <summary>
    /// Models platform_dma_configure() / pci_dma_configure() → of_dma_configure_id(), or acpi_dma_configure_id() for an
    /// ACPI device (spec §2.1, §2.9, §3.1, §4.8).
    /// </summary>
    private async KTask<Errno> PlatformDmaConfigure(Device dev)
    {
        var acpi = dev.Info.Acpi is not null;
        var (err, ops) = acpi ? await AcpiIommuConfigureId(dev) : await OfIommuConfigure(dev);
        await PciDmaConfigureAcs(dev);
        if (err == Errno.EPROBE_DEFER)
        {
            dev.DeferReason = $"{(acpi ? "acpi_iommu_configure_id" : "of_iommu_configure")}: -EPROBE_DEFER";
            return err;
        }

        if (err.IsError && err != Errno.ENODEV)
        {
            dev.BoundDespiteError = err;
            if (!Switches.ConfigureReturnsOps && !acpi)
            {
                // K68+: "Historically this routine doesn't fail driver probing due to errors in of_iommu_configure()".
                Log(EventLevel.Error, dev, "of_dma_configure_id", $"iommu configuration for device failed with {err}");
            }
        }

        if (Switches.ConfigureReturnsOps)
        {
            // K66/K67: any error was mapped to NULL ops (debug log only).
            ops = err.IsOk ? ops : null;
        }

        if (dev.HasDriverSet)
        {
            await ArchSetupDmaOps(dev, ops, err.IsOk);
        }

        if (!dev.HasDriverSet)
        {
            // Called from the IOMMU layer (K615+): no driver, so no default-domain use.
            return Errno.Ok;
        }

        var ret = await IommuDeviceUseDefaultDomain(dev);
        if (ret.IsError)
        {
            dev.Dma = DmaMode.Unset;
            if (ret == Errno.EPROBE_DEFER)
            {
                dev.DeferReason = "iommu_device_use_default_domain: group has no default domain yet";
            }
        }

        return ret;
    }

    /// <summary>Models arch_setup_dma_ops() → iommu_setup_dma_ops() on arm64 at configure time (spec §4.8).</summary>
    private async KTask ArchSetupDmaOps(Device dev, IommuLab.Model.Drivers.IommuDriver? ops, bool ok)
    {
        switch (Switches.DmaOps)
        {
            case DmaOpsDecision.AtConfigureIfOpsAndDmaDomain:
                await Read(ObjectKind.DevGroup, dev.Index);
                dev.Dma = ops is not null && ok && dev.Group?.Domain is { IsDmaApi: true } ? DmaMode.IommuDma : DmaMode.Direct;
                break;
            case DmaOpsDecision.AtConfigureIfMapped:
                await Read(ObjectKind.DevGroup, dev.Index);
                dev.Dma = dev.Group?.Domain is { IsDmaApi: true } ? DmaMode.IommuDma : DmaMode.Direct;
                break;
            default:
                await Read(ObjectKind.DevGroup, dev.Index);
                dev.Dma = dev.DmaIommuFlag ? DmaMode.IommuDma : DmaMode.Direct;
                break;
        }
    }

    /// <summary>Models iommu_device_use_default_domain() (spec §2.9).</summary>
    private async KTask<Errno> IommuDeviceUseDefaultDomain(Device dev)
    {
        await Read(ObjectKind.DevGroup, dev.Index);
        var group = dev.Group;
        if (group is null)
        {
            return Errno.Ok;
        }

        var m = GroupMutex(group);
        await Sched.Lock(m);
        await Write(ObjectKind.Group, group.Id);
        var ret = Errno.Ok;
        if (group.DefaultDomain is null && Switches.UseDefaultDomainDefers)
        {
            ret = Errno.EPROBE_DEFER;
        }
        else if (group.OwnerCount > 0 && group.Domain != group.DefaultDomain)
        {
            ret = Errno.EBUSY;
        }
        else
        {
            group.OwnerCount++;
            dev.UsesDefaultDomain = true;
        }

        await Sched.Unlock(m);
        return ret;
    }

    /// <summary>Models driver_deferred_probe_check_state() (spec §2.8).</summary>
    internal async KTask<Errno> DriverDeferredProbeCheckState(Device dev)
    {
        await Read(ObjectKind.DeferredLists);
        if (!Platform.Knobs.Modules && InitcallsDone)
        {
            Log(EventLevel.Warn, dev, "driver_deferred_probe_check_state", "ignoring dependency for device, assuming no driver");
            return Errno.ENODEV;
        }

        if (DeferredProbeTimeout == 0 && InitcallsDone)
        {
            Log(EventLevel.Warn, dev, "driver_deferred_probe_check_state", "deferred probe timeout, ignoring dependency");
            return Errno.ETIMEDOUT;
        }

        return Errno.EPROBE_DEFER;
    }

    private async KTask DeferredProbeAdd(Device dev)
    {
        await Write(ObjectKind.DeferredLists);
        if (!Pending.Contains(dev) && !Active.Contains(dev))
        {
            Pending.Add(dev);
        }
    }

    private async KTask DeferredProbeDel(Device dev)
    {
        await DeferredListsAccess(Pending.Contains(dev) || Active.Contains(dev));
        Pending.Remove(dev);
        Active.Remove(dev);
    }

    /// <summary>Models driver_deferred_probe_trigger(): pending → active, queue the work.</summary>
    public async KTask DeferredProbeTrigger()
    {
        await DeferredListsAccess(DeferredProbeEnabled && (Pending.Count > 0 || (Active.Count > 0 && !WorkQueued)));
        if (!DeferredProbeEnabled)
        {
            return;
        }

        TriggerCount++;
        Active.AddRange(Pending);
        Pending.Clear();
        if (Active.Count > 0 && !WorkQueued)
        {
            WorkQueued = true;
            Log(EventLevel.Trace, null, "driver_deferred_probe_trigger", $"retrying {string.Join(", ", Active.Select(d => d.Name))}");
        }
    }

    /// <summary>
    /// The deferred lists as one object. Under coarse events a step that leaves the lists and the queued work as
    /// they were only reads them: driver_deferred_probe_del() of a device on neither list, and a trigger before
    /// deferred_probe_initcall() or with nothing to move or queue. Its deferred_trigger_count increment is seen
    /// only by a probe that defers within the same step (driver_probe_device() compares the count it read at its
    /// start), so two such steps commute. Fine events keep the write: there the count is read across steps.
    /// </summary>
    private Point DeferredListsAccess(bool changes) =>
        changes || Sched.Mode != SchedulerMode.Coarse ? Write(ObjectKind.DeferredLists) : Read(ObjectKind.DeferredLists);

    /// <summary>Models deferred_probe_work_func(): pops the active list in order and re-probes each device.</summary>
    public async KTask DeferredProbeWork()
    {
        await Write(ObjectKind.DeferredLists);
        WorkQueued = false;
        while (true)
        {
            await Write(ObjectKind.DeferredLists);
            if (Active.Count == 0)
            {
                return;
            }

            var dev = Active[0];
            Active.RemoveAt(0);
            if (dev.State == DriverState.Deferred)
            {
                dev.State = DriverState.Unbound;
            }

            Log(EventLevel.Trace, dev, "deferred_probe_work_func", "retrying probe");
            await DriverProbeDevice(dev);
        }
    }

    /// <summary>Models deferred_probe_initcall() (late_initcall; spec §2.8).</summary>
    public async KTask LateInitcall()
    {
        await Write(ObjectKind.DeferredLists);
        if (InitcallsDone)
        {
            return;
        }

        DeferredProbeEnabled = true;
        await DeferredProbeTrigger();
        await DeferredProbeWork();
        InitcallsDone = true;
        if (!Platform.Knobs.Modules)
        {
            DriversDone = true;
        }

        await DeferredProbeTrigger();
        await DeferredProbeWork();
        if (DeferredProbeTimeout > 0)
        {
            TimeoutDeadline = checked(Clock + DeferredProbeTimeout);
        }

        Log(EventLevel.Trace, null, "deferred_probe_initcall", DeferredProbeTimeout > 0
            ? $"deferred probe timeout armed: fires at t={TimeoutDeadline}s unless a driver registration extends it"
            : $"no deferred probe timeout (deferred_probe_timeout={DeferredProbeTimeout})");
    }

    /// <summary>Models deferred_probe_timeout_work_func() (spec §2.8); <see cref="DeferredProbeTimeoutFires"/> runs it when due.</summary>
    public async KTask DeferredProbeTimeoutWork()
    {
        await Write(ObjectKind.DeferredLists);
        TimeoutDeadline = null;
        Log(EventLevel.Trace, null, "deferred_probe_timeout_work_func", $"the deferred probe timeout expires at t={Clock}s");
        DriversDone = true;
        DeferredProbeTimeout = 0;
        TimeoutExpired = true;
        await DeferredProbeTrigger();
        await DeferredProbeWork();
        await Read(ObjectKind.DeferredLists);
        foreach (var dev in Pending)
        {
            Log(EventLevel.Warn, dev, "deferred_probe_timeout_work_func", $"deferred probe pending: {dev.DeferReason ?? "(reason unknown)"}");
        }
    }
}
