using IommuLab.Model.Drivers;
using IommuLab.Model.Exploration;

namespace IommuLab.Model.Kernel;

/// <summary>
/// The ACPI configure path (spec §3): drivers/acpi/scan.c, drivers/acpi/arm64/iort.c and drivers/acpi/viot.c, reading
/// the same switches as the Device Tree path. The references themselves (which SMMU and stream ID each DMA alias or
/// named-component mapping reaches) are firmware facts computed once by <see cref="AcpiPlatformBuilder"/>.
/// </summary>
public sealed partial class Kernel
{
    /// <summary>
    /// Models acpi_iommu_configure_id() (drivers/acpi/scan.c). Returns the error and, for the K66/K67 ops-pointer
    /// variant, the ops of the fwspec. Unlike of_iommu_configure(), nothing is freed when the parse fails (v6.6.9 to
    /// v6.18.2), so a fwspec built before a deferral stays and the next call takes the shortcut.
    /// </summary>
    internal async KTask<(Errno Err, IommuDriver? Ops)> AcpiIommuConfigureId(Device dev)
    {
        if (Switches.FwspecOnStack)
        {
            return (await JggAcpiIommuConfigureId(dev), null);
        }

        var locked = ConfigureTakesProbeLock;
        if (locked)
        {
            await Sched.Lock(ProbeLock);
        }

        await Read(ObjectKind.DevIommu, dev.Index);
        if (dev.Iommu?.Fwspec is { } fw && AcpiTrustsFwspec(fw))
        {
            if (locked)
            {
                await Sched.Unlock(ProbeLock);
            }

            Log(EventLevel.Trace, dev, "acpi_iommu_configure_id", $"already has {Describe(fw)}: nothing to parse");
            return (Errno.Ok, await AcpiIommuFwspecOps(dev));
        }

        var err = await IortIommuConfigureId(dev);
        if (err.IsError && err != Errno.EPROBE_DEFER)
        {
            err = await ViotIommuConfigure(dev);
        }

        if (locked)
        {
            await Sched.Unlock(ProbeLock);
        }

        if (err.IsOk && Switches.AcpiReplay)
        {
            Log(EventLevel.Trace, dev, "acpi_iommu_configure_id", "parse complete; replaying iommu_probe_device()");
            err = await IommuProbeDevice(dev, ProbePath.Replay);
        }

        var ops = err.IsOk ? await AcpiIommuFwspecOps(dev) : null;
        if (err.IsError && err != Errno.EPROBE_DEFER)
        {
            Log(EventLevel.Debug, dev, "acpi_iommu_configure_id", $"Adding to IOMMU failed: {err.Value}");
            if (!Switches.ConfigureReturnsOps && Switches.FwspecHasOps)
            {
                // v6.8-v6.10 ("acpi: Do not return struct iommu_ops"): every other error becomes -ENODEV.
                err = Errno.ENODEV;
            }
        }
        else if (err.IsOk && !Switches.ConfigureReturnsOps && Switches.FwspecHasOps && ops is null)
        {
            err = Errno.ENODEV;
        }

        return (err, ops);
    }

    /// <summary>The "already has a fwspec" test: a fwspec with ops (acpi_iommu_fwspec_ops(), K66-K68) or any (K611+).</summary>
    private bool AcpiTrustsFwspec(Fwspec fw) => Switches.ExistingFwspec switch
    {
        ExistingFwspecPolicy.TrustAny => true,
        ExistingFwspecPolicy.TrustIfOps => !Switches.FwspecHasOps || fw.Ops is not null,
        _ => false,
    };

    /// <summary>acpi_iommu_fwspec_ops(): the fwspec's ops (K66-K68), or the ops its fwnode resolves to.</summary>
    private async KTask<IommuDriver?> AcpiIommuFwspecOps(Device dev)
    {
        await Read(ObjectKind.DevIommu, dev.Index);
        var fw = dev.Iommu?.Fwspec;
        return Switches.FwspecHasOps ? fw?.Ops : await IommuOpsFromFwnode(fw?.Fwnode);
    }

    /// <summary>
    /// Models iort_iommu_configure_id() (drivers/acpi/arm64/iort.c). PCI: pci_for_each_dma_alias() with
    /// iort_pci_iommu_init() (each alias walked from the root complex to an SMMU, then iort_iommu_xlate(); the first
    /// non-zero result stops the walk), then IOMMU_FWSPEC_PCI_RC_ATS if a fwspec exists and the root complex has ATS,
    /// whatever the result. Named component: iort_nc_iommu_map(), the single-mapping loop, stopping at the first
    /// xlate error; iort_named_component_init() on success.
    /// </summary>
    private async KTask<Errno> IortIommuConfigureId(Device dev)
    {
        if (dev.Info.Acpi is not { Table: AcpiIommuTable.Iort } acpi)
        {
            return Errno.ENODEV;
        }

        if (!acpi.NodeFound)
        {
            Log(EventLevel.Trace, dev, "iort_iommu_configure_id", $"{acpi.Node}: -ENODEV");
            return Errno.ENODEV;
        }

        var err = Errno.ENODEV;
        foreach (var r in dev.Info.Iommus.Refs)
        {
            err = await IortIommuXlate(dev, r);
            if (err.Value != 0)
            {
                break;
            }
        }

        if (err.IsOk || dev.Info.Iommus.IsEmpty)
        {
            LogAcpiEnd(dev, "iort_iommu_configure_id", acpi);
        }

        if (dev.Info.IsPci)
        {
            await Write(ObjectKind.DevIommu, dev.Index);
            if (dev.Iommu?.Fwspec is { } fw && acpi.RcAts)
            {
                fw.Flags |= FwspecFlags.PciRcAts;
                Log(EventLevel.Trace, dev, "iort_iommu_configure_id", "root complex supports ATS: IOMMU_FWSPEC_PCI_RC_ATS");
            }
        }
        else if (err.IsOk)
        {
            Log(EventLevel.Trace, dev, "iort_named_component_init", "pasid-num-bits / dma-can-stall properties added");
        }

        return err;
    }

    private void LogAcpiEnd(Device dev, string function, AcpiDeviceInfo acpi)
    {
        if (acpi.EndNote is { } note)
        {
            Log(EventLevel.Trace, dev, function, $"{acpi.Node}: {note}");
        }
    }

    /// <summary>
    /// Models iort_iommu_xlate() and viot_dev_iommu_init(). No SMMU reached → -ENODEV. K66-K68: the ops are looked up
    /// first and a missing one is -EPROBE_DEFER when the driver is built (in or as a module), else -ENODEV, before
    /// any fwspec exists, and with no driver_deferred_probe_check_state(), so no timeout ends the wait. K611+: a
    /// driver that is not built is -ENODEV, then acpi_iommu_fwspec_init() defers through iommu_fwspec_init()
    /// (a raw -EPROBE_DEFER before K616, check_state and the ready flag from K616).
    /// </summary>
    private async KTask<Errno> IortIommuXlate(Device dev, FwRef r)
    {
        var function = dev.Info.Acpi?.Table == AcpiIommuTable.Viot ? "viot_dev_iommu_init" : "iort_iommu_xlate";
        if (r.PciAlias is { } alias)
        {
            Log(EventLevel.Trace, dev, "pci_for_each_dma_alias", $"alias {alias} -> {(r.Instance is null ? r.TargetPath : $"{r.TargetPath} id 0x{r.Args[0]:x}")}");
        }

        var inst = InstanceOf(r);
        if (inst is null)
        {
            Log(EventLevel.Trace, dev, function, "no IOMMU node: -ENODEV");
            return Errno.ENODEV;
        }

        var enabled = inst.Info.Availability != DriverAvailability.Absent;
        if (!Switches.FwspecInitDefersFirst)
        {
            var ops = await IommuOpsFromFwnode(inst);
            if (ops is null)
            {
                Log(EventLevel.Trace, dev, function, enabled
                    ? $"{inst.Name} not registered, driver built: -EPROBE_DEFER"
                    : $"{inst.Name}: driver not built: -ENODEV");
                return enabled ? Errno.EPROBE_DEFER : Errno.ENODEV;
            }

            return await AcpiIommuFwspecInit(dev, r, inst, ops);
        }

        if (!enabled)
        {
            Log(EventLevel.Trace, dev, function, $"{inst.Name}: driver not built: -ENODEV");
            return Errno.ENODEV;
        }

        return await AcpiIommuFwspecInit(dev, r, inst, null);
    }

    /// <summary>Models acpi_iommu_fwspec_init(): iommu_fwspec_init(), then iommu_fwspec_add_ids() of the one ID.</summary>
    private async KTask<Errno> AcpiIommuFwspecInit(Device dev, FwRef r, IommuInstance inst, IommuDriver? ops)
    {
        var ret = await IommuFwspecInit(dev, inst, ops);
        if (ret.Value != 0)
        {
            Log(EventLevel.Trace, dev, "iommu_fwspec_init", $"{inst.Name}: {ret} (fwspec holds {Describe(dev.Iommu?.Fwspec)})");
            return ret;
        }

        return await IommuFwspecAddIds(dev, r.Args[0]);
    }

    /// <summary>Models iommu_fwspec_add_ids(): -EINVAL without a fwspec; appends without de-duplication.</summary>
    private async KTask<Errno> IommuFwspecAddIds(Device dev, uint id)
    {
        await Write(ObjectKind.DevIommu, dev.Index);
        if (dev.Iommu?.Fwspec is not { } fw)
        {
            return Errno.EINVAL;
        }

        fw.Ids.Add(id);
        return Errno.Ok;
    }

    /// <summary>
    /// Models viot_iommu_configure() (drivers/acpi/viot.c): PCI, pci_for_each_dma_alias() with
    /// viot_pci_dev_iommu_init() (no covering range → -ENODEV, the virtio-iommu itself → -EINVAL); a platform
    /// device, viot_mmio_dev_iommu_init() (its first MEM resource against the MMIO endpoints).
    /// </summary>
    private async KTask<Errno> ViotIommuConfigure(Device dev)
    {
        if (dev.Info.Acpi is not { Table: AcpiIommuTable.Viot } acpi)
        {
            return Errno.ENODEV;
        }

        var err = Errno.ENODEV;
        foreach (var r in dev.Info.Iommus.Refs)
        {
            err = await IortIommuXlate(dev, r);
            if (err.Value != 0)
            {
                return err;
            }
        }

        if (dev.Info.Iommus.EndsWithError)
        {
            Log(EventLevel.Trace, dev, "viot_dev_iommu_init", $"{dev.Info.Iommus.EndLog}: {dev.Info.Iommus.EndErrno}");
            return dev.Info.Iommus.EndErrno;
        }

        if (dev.Info.Iommus.IsEmpty)
        {
            LogAcpiEnd(dev, "viot_iommu_configure", acpi);
        }

        return err;
    }

    // ---- JGG2 patch 10 (acpi: Do not use dev->iommu within acpi_iommu_configure()) ----

    /// <summary>
    /// Models JGG2 patch 10's acpi_iommu_configure_id(): a fresh fwspec on the stack every call (no shortcut), filled
    /// by iort_iommu_configure_id() (and viot_iommu_configure() after -ENODEV); -ENODEV and -EPROBE_DEFER free it,
    /// other errors are logged and free it, success hands it to iommu_probe_device_fwspec().
    /// </summary>
    private async KTask<Errno> JggAcpiIommuConfigureId(Device dev)
    {
        var fwspec = NewFwspec(dev);
        var err = await JggTableConfigure(fwspec, dev, AcpiIommuTable.Iort);
        if (err == Errno.ENODEV)
        {
            err = await JggTableConfigure(fwspec, dev, AcpiIommuTable.Viot);
        }

        if (err == Errno.ENODEV || err == Errno.EPROBE_DEFER)
        {
            FwspecDealloc(fwspec);
            return err;
        }

        if (err.IsError)
        {
            Log(EventLevel.Debug, dev, "acpi_iommu_configure_id", $"Adding to IOMMU failed: {err.Value}");
            FwspecDealloc(fwspec);
            return err;
        }

        err = await IommuProbeDeviceFwspec(dev, fwspec);
        if (err.IsError)
        {
            Log(EventLevel.Debug, dev, "acpi_iommu_configure_id", $"Adding to IOMMU failed: {err.Value}");
        }

        return err;
    }

    /// <summary>JGG2's iort_iommu_configure_id(fwspec, ...) / viot_iommu_configure(fwspec, ...): the same walks into the local fwspec.</summary>
    private async KTask<Errno> JggTableConfigure(Fwspec fwspec, Device dev, AcpiIommuTable table)
    {
        if (dev.Info.Acpi is not { } acpi || acpi.Table != table || !acpi.NodeFound)
        {
            return Errno.ENODEV;
        }

        var err = Errno.ENODEV;
        var stopped = false;
        foreach (var r in dev.Info.Iommus.Refs)
        {
            if (r.PciAlias is { } alias)
            {
                Log(EventLevel.Trace, dev, "pci_for_each_dma_alias", $"alias {alias} -> {r.TargetPath}");
            }

            err = InstanceOf(r) is { } inst ? await JggAcpiIommuFwspecInit(fwspec, dev, inst, r.Args[0]) : Errno.ENODEV;
            if (err.Value != 0)
            {
                stopped = true;
                break;
            }
        }

        if (!stopped && dev.Info.Iommus.EndsWithError)
        {
            Log(EventLevel.Trace, dev, "viot_dev_iommu_init", $"{dev.Info.Iommus.EndLog}: {dev.Info.Iommus.EndErrno}");
            err = dev.Info.Iommus.EndErrno;
        }

        if (table == AcpiIommuTable.Iort && dev.Info.IsPci && acpi.RcAts)
        {
            fwspec.Flags |= FwspecFlags.PciRcAts;
        }

        return err;
    }

    /// <summary>JGG2's acpi_iommu_fwspec_init(): iommu_fwspec_assign_iommu(), a deferral for a driver that is not built is -ENODEV, then append the ID.</summary>
    private async KTask<Errno> JggAcpiIommuFwspecInit(Fwspec fwspec, Device dev, IommuInstance inst, uint id)
    {
        var ret = await IommuFwspecAssignIommu(fwspec, dev, inst);
        if (ret.Value != 0)
        {
            Log(EventLevel.Trace, dev, "iommu_fwspec_assign_iommu", $"{inst.Name}: {ret}");
            return ret == Errno.EPROBE_DEFER && inst.Info.Availability == DriverAvailability.Absent ? Errno.ENODEV : ret;
        }

        fwspec.Ids.Add(id);
        return Errno.Ok;
    }
}
