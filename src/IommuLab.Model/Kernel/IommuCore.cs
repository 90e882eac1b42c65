using IommuLab.Model.Drivers;
using IommuLab.Model.Exploration;

namespace IommuLab.Model.Kernel;

/// <summary>drivers/iommu/iommu.c: registration, probe, groups, default domains, release (spec §1.3, §4).</summary>
public sealed partial class Kernel
{
    /// <summary>Late probes at driver bind ("late IOMMU probe at driver bind"), for I17, with the path that probed.</summary>
    public List<LateProbe> LateProbes { get; } = [];

    /// <summary>Outcomes memoised while the quiescent checks run (<see cref="OutcomeBuilder.Freeze"/>); else null.</summary>
    internal Dictionary<Device, DeviceOutcome>? FrozenOutcomes { get; set; }

    /// <summary>The consumers with their outcomes, once asked for inside a <see cref="OutcomeBuilder.Freeze"/> scope.</summary>
    internal List<(Device Dev, DeviceOutcome O)>? FrozenConsumers { get; set; }

    /// <summary>Models the IOMMU platform driver's probe(): hardware init, then iommu_device_register().</summary>
    private async KTask<Errno> IommuDriverProbe(IommuInstance inst)
    {
        var dev = Devices[inst.Info.Device];
        if (inst.Info.ProbeFails)
        {
            Log(EventLevel.Error, dev, "probe", "instance probe fails (platform knob): -ENODEV");
            return Errno.ENODEV;
        }

        var driver = DriverFor(inst.Info.Driver);
        var ret = await driver.ProbeInstance(inst);
        if (ret.IsError)
        {
            return ret;
        }

        inst.Probed = true;
        ret = await IommuDeviceRegister(inst, driver);
        if (ret.IsError)
        {
            inst.RegistrationFailed = true;
            inst.RegistrationError = ret;
            Log(EventLevel.Error, dev, "iommu_device_register", $"registration failed with {ret}; the instance is unregistered");
            if (driver.IgnoresRegisterError)
            {
                return Errno.Ok;
            }
        }

        return ret;
    }

    /// <summary>Models iommu_device_register(): list insert, bus walk, unregister on failure, ready (spec §1.3).</summary>
    private async KTask<Errno> IommuDeviceRegister(IommuInstance inst, IommuDriver ops)
    {
        var dev = Devices[inst.Info.Device];
        if (Switches.SingleIommuDriver)
        {
            await Read(ObjectKind.BusOps);
            if (BusOps is not null && BusOps != ops)
            {
                return Errno.EBUSY;
            }
        }

        inst.Driver = ops;
        await Write(ObjectKind.InstanceList, inst.Index);
        InstanceList.Add(inst);
        inst.Registered = true;
        Log(EventLevel.Info, dev, "iommu_device_register", $"{inst.Name} ({inst.Info.Compatible}) on iommu_device_list; walking the platform bus");
        if (Switches.SingleIommuDriver && BusOps != ops)
        {
            // Storing the ops the bus already has changes nothing a reader sees: only the first store is a write.
            await Write(ObjectKind.BusOps);
            BusOps = ops;
        }

        var ret = await BusIommuProbe();
        if (ret.IsError)
        {
            await IommuDeviceUnregister(inst);
            return ret;
        }

        await Write(ObjectKind.InstanceReady, inst.Index);
        inst.Ready = true;
        return Errno.Ok;
    }

    /// <summary>Models iommu_device_unregister(): release devices whose primary instance this is, then unlist.</summary>
    private async KTask IommuDeviceUnregister(IommuInstance inst)
    {
        foreach (var d in Bus.Concat(PciBus).ToList())
        {
            await Read(ObjectKind.DevIommu, d.Index);
            if (d.Iommu?.IommuDev == inst)
            {
                await IommuReleaseDevice(d);
            }
        }

        await Write(ObjectKind.InstanceList, inst.Index);
        InstanceList.Remove(inst);
        inst.Registered = false;
    }

    /// <summary>Models iommu_release_device() (spec §4.7).</summary>
    private async KTask IommuReleaseDevice(Device dev)
    {
        await Read(ObjectKind.DevGroup, dev.Index);
        if (dev.Group is { } group)
        {
            var m = GroupMutex(group);
            await Sched.Lock(m);
            await Write(ObjectKind.Group, group.Id);
            group.Devices.Remove(dev);
            if (dev.Iommu?.IommuDev?.Driver is { } ops)
            {
                await ops.ReleaseDevice(dev);
            }

            if (group.Devices.Count == 0)
            {
                group.DefaultDomain = null;
                group.Domain = null;
            }

            await Write(ObjectKind.DevGroup, dev.Index);
            dev.Group = null;
            await GroupPut(group);
            await Sched.Unlock(m);
            Log(EventLevel.Info, dev, "iommu_release_device", $"removed from {group}");
        }

        await DevIommuFree(dev, "iommu_release_device");
    }

    private async KTask GroupPut(IommuGroup group)
    {
        group.Refs--;
        if (group.Refs == 0)
        {
            group.Freed = true;
            if (group.IommuData is not null)
            {
                await group.Driver.ReleaseGroupData(group);
            }
        }
    }

    /// <summary>Models bus_iommu_probe(): probe every device, then set up deferred default domains (spec §4.2).</summary>
    private async KTask<Errno> BusIommuProbe()
    {
        foreach (var bus in new[] { Bus, PciBus })
        {
            var ret = await BusIommuProbe(bus);
            if (ret.IsError)
            {
                return ret;
            }
        }

        return Errno.Ok;
    }

    /// <summary>Models bus_iommu_probe() for one bus (platform, then pci, as iommu_buses[] orders them).</summary>
    private async KTask<Errno> BusIommuProbe(List<Device> bus)
    {
        var groupList = new List<IommuGroup>();
        for (var i = 0; ; i++)
        {
            // bus_for_each_dev() reads the bus's device list (a device_add() before or after is seen or not); the
            // device's own state is read where __iommu_probe_device() looks at it.
            await Read(ObjectKind.BusList, bus == PciBus ? 1 : 0);
            if (i >= bus.Count)
            {
                break;
            }

            var dev = bus[i];
            await Sched.Lock(ProbeLock);
            var ret = await IommuProbeDeviceLocked(dev, null, groupList, ProbePath.Walk);
            await Sched.Unlock(ProbeLock);
            if (ret == Errno.ENODEV)
            {
                continue;
            }

            if (ret.IsError)
            {
                Log(EventLevel.Error, dev, "probe_iommu_group", $"{ret} aborts the bus walk");
                return ret;
            }
        }

        foreach (var group in groupList)
        {
            var m = GroupMutex(group);
            await Sched.Lock(m);
            var ret = await IommuSetupDefaultDomain(group);
            await Sched.Unlock(m);
            if (ret.IsError)
            {
                return ret;
            }
        }

        return Errno.Ok;
    }

    /// <summary>Models iommu_probe_device() from the BUS_NOTIFY_ADD_DEVICE notifier: lock, __iommu_probe_device(), unlock (spec §4.1).</summary>
    internal KTask<Errno> IommuProbeDevice(Device dev) => IommuProbeDevice(dev, ProbePath.Notifier);

    /// <summary>Models iommu_probe_device() (spec §4.1); <paramref name="path"/> says who called it (I17 provenance).</summary>
    internal async KTask<Errno> IommuProbeDevice(Device dev, ProbePath path)
    {
        await Sched.Lock(ProbeLock);
        var ret = await IommuProbeDeviceLocked(dev, null, null, path);
        await Sched.Unlock(ProbeLock);
        return ret;
    }

    /// <summary>Models JGG2 iommu_probe_device_fwspec() (patch 07): probe takes ownership of the caller's fwspec.</summary>
    private async KTask<Errno> IommuProbeDeviceFwspec(Device dev, Fwspec fwspec)
    {
        await Sched.Lock(ProbeLock);
        var ret = await IommuProbeDeviceLocked(dev, fwspec, null, ProbePath.Replay);
        await Sched.Unlock(ProbeLock);
        return ret;
    }

    /// <summary>Models __iommu_probe_device() (spec §4.3), called with iommu_probe_device_lock held.</summary>
    private async KTask<Errno> IommuProbeDeviceLocked(Device dev, Fwspec? callerFwspec, List<IommuGroup>? groupList, ProbePath path)
    {
        IommuDriver? ops = null;
        var resolveInInit = Switches.InitDeviceParse != InitDeviceParse.Never;
        if (!resolveInInit)
        {
            await Read(ObjectKind.DevIommu, dev.Index);
            var fw = callerFwspec ?? dev.Iommu?.Fwspec;
            switch (Switches.ProbeOps)
            {
                case ProbeOpsSource.BusOps:
                    await Read(ObjectKind.BusOps);
                    ops = BusOps;
                    break;
                case ProbeOpsSource.FwspecOps:
                    ops = fw?.Ops;
                    break;
                case ProbeOpsSource.FwspecOpsElseBusOps:
                    await Read(ObjectKind.BusOps);
                    ops = fw is not null ? fw.Ops : BusOps;
                    break;
                default:
                    ops = await IommuOpsFromFwnode(fw?.Fwnode);
                    break;
            }

            if (ops is null)
            {
                if (callerFwspec is not null)
                {
                    FwspecDealloc(callerFwspec);
                }

                return Errno.ENODEV;
            }
        }

        await Read(ObjectKind.DevGroup, dev.Index);
        if (dev.Group is not null)
        {
            if (callerFwspec is not null)
            {
                FwspecDealloc(callerFwspec);
            }

            Log(EventLevel.Trace, dev, "__iommu_probe_device", $"already in {dev.Group}: nothing to do");
            return Errno.Ok;
        }

        var (ret, initOps) = await IommuInitDevice(dev, ops, callerFwspec);
        if (ret.IsError)
        {
            return ret;
        }

        var usedOps = initOps ?? throw new InvalidOperationException($"model bug: iommu_init_device() succeeded for {dev.Name} without ops");

        await Read(ObjectKind.DevDriver, dev.Index);
        if (Switches.LateProbeWarning && dev.HasDriverSet)
        {
            LateProbes.Add(new LateProbe(dev, EventIndex, path));
            dev.Warnings.Add("late IOMMU probe at driver bind");
            Log(EventLevel.Warn, dev, "__iommu_probe_device", "late IOMMU probe at driver bind, something fishy here!");
        }

        var group = dev.Group!;
        var m = GroupMutex(group);
        await Sched.Lock(m);
        await Write(ObjectKind.Group, group.Id);
        group.Devices.Add(dev);
        Log(EventLevel.Info, dev, "__iommu_probe_device", $"Adding to iommu group {group.Id} ({usedOps.Name}, primary {dev.Iommu?.IommuDev?.Name}, {DescribePriv(dev.Iommu?.Priv)})");
        if (group.Domain is not null)
        {
            ret = await usedOps.AttachDev(group.Domain, dev);
            if (ret.IsError)
            {
                Log(EventLevel.Error, dev, "__iommu_device_set_domain", $"attach to {group.Domain} failed: {ret}");
            }
        }
        else if (group.DefaultDomain is null && groupList is null)
        {
            ret = await IommuSetupDefaultDomain(group);
        }
        else if (group.DefaultDomain is null && !groupList!.Contains(group))
        {
            groupList.Add(group);
            Log(EventLevel.Trace, dev, "__iommu_probe_device", $"{group} default domain deferred to the end of the walk");
        }

        if (ret.IsError)
        {
            group.Devices.Remove(dev);
            await Sched.Unlock(m);
            await IommuReleaseDeviceInit(dev, usedOps);
            return ret;
        }

        if (Switches.DmaOps == DmaOpsDecision.IommuCore && group.DefaultDomain is not null)
        {
            await IommuSetupDmaOps(dev, group);
        }

        await Sched.Unlock(m);
        return Errno.Ok;
    }

    /// <summary>Undo of iommu_init_device() after a failed attach (the err_remove_gdev path).</summary>
    private async KTask IommuReleaseDeviceInit(Device dev, IommuDriver ops)
    {
        await ops.ReleaseDevice(dev);
        var g = dev.Group;
        await Write(ObjectKind.DevGroup, dev.Index);
        dev.Group = null;
        if (g is not null)
        {
            await GroupPut(g);
        }

        await DevIommuFree(dev, "__iommu_probe_device error path");
    }

    /// <summary>Models iommu_init_device() (spec §4.3 step 3), including the K615+ firmware parse window.</summary>
    private async KTask<(Errno, IommuDriver?)> IommuInitDevice(Device dev, IommuDriver? ops, Fwspec? callerFwspec)
    {
        var di = await DevIommuGet(dev);
        if (callerFwspec is not null)
        {
            if (di.Fwspec is { } old && old != callerFwspec)
            {
                FwspecDealloc(old);
            }

            di.Fwspec = callerFwspec;
        }

        if (Switches.InitDeviceParse != InitDeviceParse.Never)
        {
            await Read(ObjectKind.DevDriver, dev.Index);
            await Read(ObjectKind.DevIommu, dev.Index);
            var parse = !dev.HasDriverSet && (Switches.InitDeviceParse == InitDeviceParse.WhenNoDriver || dev.Iommu?.Fwspec is null);
            if (parse)
            {
                Log(EventLevel.Trace, dev, "iommu_init_device", "no driver bound: dropping the probe lock to run dma_configure");
                await Sched.Unlock(ProbeLock);
                await PlatformDmaConfigure(dev);
                await Sched.Lock(ProbeLock);
                await Read(ObjectKind.DevIommu, dev.Index);
                await Read(ObjectKind.DevGroup, dev.Index);
                if (Switches.InitDeviceParse == InitDeviceParse.WhenNoDriverAndNoFwspec && (dev.Iommu is null || dev.Group is not null))
                {
                    return (Errno.ENODEV, null);
                }

                if (dev.Iommu is null)
                {
                    Crashes.Add($"{dev.Name}: NULL dereference of dev->iommu after dma_configure in iommu_init_device()");
                    Log(EventLevel.Error, dev, "iommu_init_device", "dev->iommu vanished during dma_configure: NULL pointer dereference");
                    return (Errno.ENODEV, null);
                }
            }

            ops = await IommuOpsFromFwnode(dev.Iommu!.Fwspec?.Fwnode);
            if (ops is null)
            {
                await DevIommuFree(dev, "iommu_init_device: no ops");
                return (Errno.ENODEV, null);
            }
        }

        if (!TryModuleGet(ops!))
        {
            await DevIommuFree(dev, "iommu_init_device: try_module_get failed");
            return (Errno.EINVAL, null);
        }

        dev.Iommu!.ModuleRef = ops;
        var (iommuDev, err) = await ops!.ProbeDevice(dev);
        if (err.IsError)
        {
            Log(EventLevel.Trace, dev, "iommu_init_device", $"{ops.Name} probe_device: {err}");
            await DevIommuFree(dev, "iommu_init_device: probe_device failed");
            return (err, null);
        }

        await Write(ObjectKind.DevIommu, dev.Index);
        if (dev.Iommu is null)
        {
            Crashes.Add($"{dev.Name}: use-after-free of dev->iommu in iommu_init_device()");
            return (Errno.ENODEV, null);
        }

        dev.Iommu.IommuDev = iommuDev;
        var (group, gerr) = await ops.DeviceGroup(dev);
        if (gerr.IsError || group is null)
        {
            Log(EventLevel.Error, dev, "iommu_init_device", $"{ops.Name} device_group: {(gerr.IsError ? gerr : Errno.EINVAL)}");
            await ops.ReleaseDevice(dev);
            await DevIommuFree(dev, "iommu_init_device: device_group failed");
            return (gerr.IsError ? gerr : Errno.EINVAL, null);
        }

        await Write(ObjectKind.DevGroup, dev.Index);
        dev.Group = group;
        return (Errno.Ok, ops);
    }

    /// <summary>Models iommu_setup_default_domain() (spec §4.5), group mutex held.</summary>
    private async KTask<Errno> IommuSetupDefaultDomain(IommuGroup group)
    {
        await Write(ObjectKind.Group, group.Id);
        if (group.Devices.Count == 0)
        {
            return Errno.Ok;
        }

        var req = IommuGetDefaultDomainType(group);
        if (req is null)
        {
            return Errno.EINVAL;
        }

        var ops = group.Driver;
        var first = group.Devices[0];
        var type = req.Value != DomainType.None ? req.Value : Switches.DefaultDomain == GlobalDomainType.Identity ? DomainType.Identity : DomainType.Dma;
        var (dom, err) = await ops.DomainAlloc(type, first);
        if (dom is null && req.Value == DomainType.None && type != DomainType.Dma)
        {
            Log(EventLevel.Warn, first, "iommu_group_alloc_default_domain", $"Failed to allocate default IOMMU domain of type {type}; falling back to DMA");
            (dom, err) = await ops.DomainAlloc(DomainType.Dma, first);
        }

        if (dom is null)
        {
            Log(EventLevel.Error, first, "iommu_setup_default_domain", $"no default domain: {err}");
            return err.IsError ? err : Errno.ENODEV;
        }

        group.DefaultDomain = dom;
        if (group.Domain is null)
        {
            foreach (var d in group.Devices)
            {
                var r = await ops.AttachDev(dom, d);
                if (r.IsError)
                {
                    Log(EventLevel.Warn, d, "__iommu_group_set_domain_nofail", $"attach to {dom} failed: {r}");
                }
            }

            group.Domain = dom;
        }

        Log(EventLevel.Info, first, "iommu_setup_default_domain", $"{group}: default domain {dom}");
        if (Switches.DmaOps == DmaOpsDecision.IommuCore)
        {
            foreach (var d in group.Devices)
            {
                await IommuSetupDmaOps(d, group);
            }
        }

        return Errno.Ok;
    }

    /// <summary>Models iommu_get_default_domain_type(): null for -1 (no valid type).</summary>
    private DomainType? IommuGetDefaultDomainType(IommuGroup group)
    {
        var type = DomainType.None;
        foreach (var d in group.Devices)
        {
            var t = group.Driver.DefDomainType(d);
            if (t == DomainType.None || t == type)
            {
                continue;
            }

            if (type == DomainType.None)
            {
                type = t;
                continue;
            }

            Log(EventLevel.Warn, d, "iommu_get_default_domain_type", $"Device needs domain type {t}, but device in the same group needs {type}");
            if (Switches.DefaultTypeCombine == DefaultTypeCombine.FirstWins)
            {
                return DomainType.None;
            }

            if (t == DomainType.Identity)
            {
                type = t;
            }
        }

        return type;
    }

    /// <summary>
    /// Models iommu_setup_dma_ops() called by the IOMMU core (≥ v6.13, spec §4.8). It only sets
    /// <c>dev->dma_iommu</c>, which the DMA API reads on every call (use_dma_iommu(), kernel/dma/mapping.c): a change
    /// before the driver's probe() runs is invisible to the driver; one after it (the model runs probe() at
    /// driver_bound) switches ops the driver is already using.
    /// </summary>
    private async KTask IommuSetupDmaOps(Device dev, IommuGroup group)
    {
        await Write(ObjectKind.DevDriver, dev.Index);
        dev.DmaIommuFlag = group.Domain?.IsDmaApi == true;
        if (dev.State == DriverState.Bound || dev.HasDriverSet)
        {
            var mode = dev.DmaIommuFlag ? DmaMode.IommuDma : DmaMode.Direct;
            if (dev.Dma != mode && dev.Dma != DmaMode.Unset)
            {
                if (dev.State == DriverState.Bound)
                {
                    Log(EventLevel.Warn, dev, "iommu_setup_dma_ops", $"DMA ops switched to {(dev.DmaIommuFlag ? "iommu-dma" : "direct")} underneath the bound driver");
                }
                else
                {
                    Log(EventLevel.Trace, dev, "iommu_setup_dma_ops", $"dev->dma_iommu set to {(dev.DmaIommuFlag ? "iommu-dma" : "direct")} before the driver's probe() runs");
                }
            }

            dev.Dma = mode;
        }
    }
}

/// <summary>Which caller ran <c>__iommu_probe_device()</c> (I17 provenance, spec §4.1).</summary>
public enum ProbePath
{
    /// <summary><c>iommu_bus_notifier()</c> on BUS_NOTIFY_ADD_DEVICE.</summary>
    Notifier,

    /// <summary><c>bus_iommu_probe()</c> from <c>iommu_device_register()</c>: device order, deferred default domains.</summary>
    Walk,

    /// <summary>The "replay" <c>iommu_probe_device()</c> from <c>of_iommu_configure()</c> / <c>acpi_iommu_configure_id()</c> at driver probe.</summary>
    Replay,
}

/// <summary>One "late IOMMU probe at driver bind" WARN: the device, the event index, and the path that probed it.</summary>
public sealed record LateProbe(Device Device, int Event, ProbePath Path);
