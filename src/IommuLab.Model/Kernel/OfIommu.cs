using IommuLab.Model.Drivers;
using IommuLab.Model.Exploration;

namespace IommuLab.Model.Kernel;

/// <summary>drivers/iommu/of_iommu.c and the fwspec helpers of iommu.c (spec §2.2-§2.7, §5.3).</summary>
public sealed partial class Kernel
{
    private Errno NoIommu => Switches.ConfigureReturnsOps ? Errno.NoIommu : Errno.ENODEV;

    /// <summary>
    /// Models of_iommu_configure() (drivers/iommu/of_iommu.c). Returns the error code and, for the K66/K67 ops-pointer
    /// variant, the ops it would return.
    /// </summary>
    internal async KTask<(Errno Err, IommuDriver? Ops)> OfIommuConfigure(Device dev)
    {
        var refs = dev.Info.Iommus;
        if (refs.IsEmpty && refs.EndLog is null)
        {
            return (NoIommu, null);
        }

        if (Switches.FwspecOnStack)
        {
            return (await JggOfIommuConfigure(dev), null);
        }

        var locked = ConfigureTakesProbeLock;
        if (locked)
        {
            await Sched.Lock(ProbeLock);
        }

        await Read(ObjectKind.DevIommu, dev.Index);
        var fw = dev.Iommu?.Fwspec;
        if (fw is not null)
        {
            var trusted = Switches.ExistingFwspec switch
            {
                ExistingFwspecPolicy.TrustAny => true,
                ExistingFwspecPolicy.TrustIfOps => !Switches.FwspecHasOps || fw.Ops is not null,
                _ => false,
            };
            if (trusted)
            {
                if (locked)
                {
                    await Sched.Unlock(ProbeLock);
                }

                Log(EventLevel.Trace, dev, "of_iommu_configure", $"already has a fwspec for {fw.Fwnode?.Name ?? "?"}: nothing to parse");
                return (Errno.Ok, Switches.FwspecHasOps ? fw.Ops : fw.Fwnode?.Driver);
            }

            Log(EventLevel.Trace, dev, "of_iommu_configure", "placeholder fwspec from an earlier deferral: freed, parsing again");
            await IommuFwspecFree(dev);
        }

        await Read(ObjectKind.DevIommu, dev.Index);
        var devIommuPresent = dev.Iommu is not null;
        var err = await OfIommuConfigureDev(dev);
        IommuDriver? ops = null;
        if (err.IsOk)
        {
            await Read(ObjectKind.DevIommu, dev.Index);
            var f = dev.Iommu?.Fwspec;
            ops = Switches.FwspecHasOps ? f?.Ops : f?.Fwnode?.Driver;
        }
        else if (err.Value != 0)
        {
            switch (Switches.ConfigureCleanup)
            {
                case ConfigureCleanup.FreeFwspec:
                    await IommuFwspecFree(dev);
                    break;
                case ConfigureCleanup.FreeDevIommuIfAllocated:
                    await Read(ObjectKind.DevIommu, dev.Index);
                    if (devIommuPresent)
                    {
                        await IommuFwspecFree(dev);
                    }
                    else if (dev.Iommu is not null)
                    {
                        await DevIommuFree(dev, "of_iommu_configure");
                    }

                    break;
            }
        }

        if (locked)
        {
            await Sched.Unlock(ProbeLock);
        }

        if (err.IsOk && (Switches.Replay == ReplayPolicy.Always || !devIommuPresent))
        {
            Log(EventLevel.Trace, dev, "of_iommu_configure", "parse complete; replaying iommu_probe_device()");
            err = await IommuProbeDevice(dev, ProbePath.Replay);
        }

        if (err.IsError && err != Errno.EPROBE_DEFER && err != Errno.ENODEV)
        {
            Log(EventLevel.Debug, dev, "of_iommu_configure", $"Adding to IOMMU failed: {err.Value}");
        }

        return (err, ops);
    }

    /// <summary>
    /// Models of_iommu_configure_dev(): the <c>iommus</c> loop, stopping at the first non-zero xlate; for a PCI
    /// function, pci_for_each_dma_alias() with of_pci_iommu_init(): each alias through of_map_id() and of_iommu_xlate(),
    /// stopping at the first non-zero result (an of_map_id() error included), then of_pci_check_device_ats().
    /// </summary>
    private async KTask<Errno> OfIommuConfigureDev(Device dev)
    {
        var err = NoIommu;
        foreach (var r in dev.Info.Iommus.Refs)
        {
            if (r.PciAlias is { } alias)
            {
                Log(EventLevel.Trace, dev, "pci_for_each_dma_alias", $"alias {alias} -> of_map_id: {(r.Instance is null && !r.TargetAvailable && r.Args.Length == 1 && r.Args[0] == alias.Rid ? "no iommu-map translation" : $"{r.TargetPath} id {string.Join(",", r.Args)}")}");
            }

            err = await OfIommuXlate(dev, r);
            if (err.Value != 0)
            {
                await OfPciCheckDeviceAts(dev);
                return err;
            }
        }

        if (dev.Info.Iommus.EndsWithError)
        {
            Log(EventLevel.Error, dev, "of_map_id", $"{dev.Info.Iommus.EndLog}: {dev.Info.Iommus.EndErrno} ends pci_for_each_dma_alias");
            await OfPciCheckDeviceAts(dev);
            return dev.Info.Iommus.EndErrno;
        }

        LogParseEnd(dev);
        await OfPciCheckDeviceAts(dev);
        return err;
    }

    /// <summary>Models of_pci_check_device_ats(): <c>ats-supported</c> on the host bridge sets IOMMU_FWSPEC_PCI_RC_ATS.</summary>
    private async KTask OfPciCheckDeviceAts(Device dev)
    {
        if (!dev.Info.IsPci || !Switches.OfPciChecksAts)
        {
            return;
        }

        await Write(ObjectKind.DevIommu, dev.Index);
        if (dev.Iommu?.Fwspec is { } fw && dev.Info.PciRcAts)
        {
            fw.Flags |= FwspecFlags.PciRcAts;
            Log(EventLevel.Trace, dev, "of_pci_check_device_ats", "host bridge has ats-supported: IOMMU_FWSPEC_PCI_RC_ATS");
        }
    }

    private void LogParseEnd(Device dev)
    {
        if (dev.Info.Iommus.EndLog is { } log)
        {
            Log(EventLevel.Error, dev, "of_parse_phandle_with_args", $"{dev.Info.Path}: {log}; the iommus list ends at entry {dev.Info.Iommus.Refs.Length}");
        }
    }

    /// <summary>Models of_iommu_xlate() (spec §2.5).</summary>
    private async KTask<Errno> OfIommuXlate(Device dev, FwRef r)
    {
        var inst = InstanceOf(r);
        if (!Switches.FwspecInitDefersFirst)
        {
            var ops = await IommuOpsFromFwnode(inst);
            if ((ops is not null && !ops.HasOfXlate) || !r.TargetAvailable)
            {
                Log(EventLevel.Trace, dev, "of_iommu_xlate", $"{r.TargetPath} is not available: no IOMMU");
                return NoIommu;
            }

            var ret = await IommuFwspecInit(dev, inst!, ops);
            if (ret.Value != 0)
            {
                Log(EventLevel.Trace, dev, "iommu_fwspec_init", $"{r.TargetPath}: {ret} (fwspec holds {Describe(dev.Iommu?.Fwspec)})");
                return ret;
            }

            if (ops is null)
            {
                Log(EventLevel.Trace, dev, "of_iommu_xlate", $"{r.TargetPath} not registered yet: placeholder fwspec, deferring");
                return await DriverDeferredProbeCheckState(dev);
            }

            return await OfXlateHoldingModule(dev, r, ops);
        }

        if (!r.TargetAvailable)
        {
            Log(EventLevel.Trace, dev, "of_iommu_xlate", $"{r.TargetPath} is not available: -ENODEV");
            return Errno.ENODEV;
        }

        var err = await IommuFwspecInit(dev, inst, null);
        if (err == Errno.EPROBE_DEFER && Switches.ReadyCheck == ReadyCheck.None)
        {
            Log(EventLevel.Trace, dev, "of_iommu_xlate", $"{r.TargetPath} not registered: deferring");
            return await DriverDeferredProbeCheckState(dev);
        }

        if (err.Value != 0)
        {
            Log(EventLevel.Trace, dev, "iommu_fwspec_init", $"{r.TargetPath}: {err}");
            return err;
        }

        var drv = await IommuOpsFromFwnode(inst);
        if (drv is null || !drv.HasOfXlate)
        {
            return Errno.ENODEV;
        }

        return await OfXlateHoldingModule(dev, r, drv);
    }

    /// <summary>try_module_get(ops->owner) (no module → -ENODEV), ops->of_xlate(), module_put() (spec §2.5).</summary>
    private async KTask<Errno> OfXlateHoldingModule(Device dev, FwRef r, IommuDriver ops)
    {
        if (!TryModuleGet(ops))
        {
            Log(EventLevel.Trace, dev, "of_iommu_xlate", $"try_module_get({ops.Name}) failed: -ENODEV");
            return Errno.ENODEV;
        }

        var ret = await ops.OfXlate(dev, r);
        ModulePut(ops);
        return ret;
    }

    /// <summary>
    /// Models iommu_ops_from_fwnode(): the first list entry with this fwnode. Only that fwnode's entry decides the
    /// result (one instance per fwnode), so the lookup reads that entry, not the whole list: registrations of other
    /// instances commute with it.
    /// </summary>
    internal async KTask<IommuDriver?> IommuOpsFromFwnode(IommuInstance? fwnode)
    {
        if (fwnode is null)
        {
            return null;
        }

        await Read(ObjectKind.InstanceList, fwnode.Index);
        return InstanceList.Contains(fwnode) ? fwnode.Driver : null;
    }

    /// <summary>
    /// Models iommu_fwspec_init() (spec §2.6): K66-K68 (ops passed in, compared by pointer), K611/K615 (ops resolved
    /// first, -EPROBE_DEFER before comparing) and K616 (instance lookup with check_state, then the ready check).
    /// </summary>
    private async KTask<Errno> IommuFwspecInit(Device dev, IommuInstance? fwnode, IommuDriver? ops)
    {
        if (Switches.FwspecInitDefersFirst)
        {
            ops = await IommuOpsFromFwnode(fwnode);
            if (ops is null)
            {
                return Switches.ReadyCheck != ReadyCheck.None ? await DriverDeferredProbeCheckState(dev) : Errno.EPROBE_DEFER;
            }

            if (Switches.ReadyCheck != ReadyCheck.None)
            {
                await Read(ObjectKind.DevIommu, dev.Index);
                var check = Switches.ReadyCheck == ReadyCheck.Always || dev.Iommu is null;
                if (check)
                {
                    await Read(ObjectKind.InstanceReady, fwnode!.Index);
                    if (!fwnode.Ready)
                    {
                        Log(EventLevel.Trace, dev, "iommu_fwspec_init", $"{fwnode.Name} registered but not ready: -EPROBE_DEFER");
                        return Errno.EPROBE_DEFER;
                    }
                }
                else if (!fwnode!.Ready)
                {
                    Log(EventLevel.Trace, dev, "iommu_fwspec_init", $"{fwnode.Name} not ready, but dev->iommu exists: readiness check skipped");
                }
            }
        }

        await Read(ObjectKind.DevIommu, dev.Index);
        var fw = dev.Iommu?.Fwspec;
        if (fw is not null)
        {
            var fwOps = Switches.FwspecHasOps ? fw.Ops : await IommuOpsFromFwnode(fw.Fwnode);
            return ops == fwOps ? Errno.Ok : Errno.EINVAL;
        }

        var di = await DevIommuGet(dev);
        var spec = NewFwspec(dev);
        spec.Ops = Switches.FwspecHasOps ? ops : null;
        spec.Fwnode = fwnode;
        if (fwnode is not null)
        {
            fwnode.FwnodeRefs++;
        }

        await Write(ObjectKind.DevIommu, dev.Index);
        if (dev.Iommu != di)
        {
            // The S-R1 race (K66): a concurrent failed probe freed the dev_iommu this call allocated.
            RecordUseAfterFree(dev, "iommu_fwspec_init", "dev->iommu->fwspec written after a concurrent dev_iommu_free()");
            return Errno.ENODEV;
        }

        di.Fwspec = spec;
        return Errno.Ok;
    }

    /// <summary>Records a use-after-free the real kernel would commit (a crash); the model continues as if the write was lost.</summary>
    internal void RecordUseAfterFree(Device dev, string function, string what)
    {
        Crashes.Add($"{dev.Name}: use-after-free in {function}(): {what}");
        Log(EventLevel.Error, dev, function, $"use-after-free: {what}");
    }

    private Fwspec NewFwspec(Device dev) => new(Ledger.Alloc(AllocKind.Fwspec, $"fwspec of {dev.Name}", EventIndex));

    /// <summary>Models dev_iommu_get(): returns or allocates <c>dev->iommu</c>.</summary>
    internal async KTask<DevIommu> DevIommuGet(Device dev)
    {
        await Write(ObjectKind.DevIommu, dev.Index);
        if (dev.Iommu is null)
        {
            dev.Iommu = new DevIommu(Ledger.Alloc(AllocKind.DevIommu, $"dev_iommu of {dev.Name}", EventIndex));
        }

        return dev.Iommu;
    }

    /// <summary>Models iommu_fwspec_free(): frees the fwspec only.</summary>
    internal async KTask IommuFwspecFree(Device dev)
    {
        await Write(ObjectKind.DevIommu, dev.Index);
        if (dev.Iommu?.Fwspec is { } fw)
        {
            FwspecDealloc(fw);
            dev.Iommu.Fwspec = null;
        }
    }

    /// <summary>Models iommu_fwspec_dealloc() (JGG2) and the free half of iommu_fwspec_free(): put the fwnode, kfree.</summary>
    internal void FwspecDealloc(Fwspec fw)
    {
        if (fw.Fwnode is { } n)
        {
            n.FwnodeRefs--;
        }

        Ledger.Free(fw.Id, EventIndex);
    }

    /// <summary>Models dev_iommu_free(): frees the fwspec and dev->iommu, never priv (spec §1.2).</summary>
    internal async KTask DevIommuFree(Device dev, string caller)
    {
        await Write(ObjectKind.DevIommu, dev.Index);
        var di = dev.Iommu;
        if (di is null)
        {
            return;
        }

        dev.Iommu = null;
        if (di.ModuleRef is { } owner)
        {
            // iommu_deinit_device() and the iommu_init_device() error paths put the module before this free.
            ModulePut(owner);
        }

        if (di.Fwspec is { } fw)
        {
            FwspecDealloc(fw);
        }

        Ledger.Free(di.Id, EventIndex);
        var leak = di.Priv is not null && PrivIsLive(di.Priv) ? $"; priv {DescribePriv(di.Priv)} is dropped, not freed" : "";
        Log(EventLevel.Trace, dev, "dev_iommu_free", $"dev->iommu freed ({caller}){leak}");
    }

    internal bool PrivIsLive(object priv) => priv is ILedgered l && Ledger.IsLive(l.LedgerId);

    internal static string DescribePriv(object? priv) => priv switch
    {
        null => "none",
        ILedgered l => l.Describe(),
        _ => priv.ToString() ?? "?",
    };

    internal static string Describe(Fwspec? fw) => fw is null
        ? "no fwspec"
        : $"fwspec{{{(fw.Fwnode is null ? "no fwnode" : fw.Fwnode.Name)}{(fw.Ids.Count > 0 ? " ids " + string.Join(",", fw.Ids) : "")}{(fw.Flags.HasFlag(FwspecFlags.PciRcAts) ? " PCI_RC_ATS" : "")}}}";

    // ---- JGG2 (spec §5.3) ----

    /// <summary>Models JGG2 patch 08's of_iommu_configure(): a fresh on-stack fwspec, then iommu_probe_device_fwspec().</summary>
    private async KTask<Errno> JggOfIommuConfigure(Device dev)
    {
        var fwspec = NewFwspec(dev);
        var err = Errno.ENODEV;
        foreach (var r in dev.Info.Iommus.Refs)
        {
            err = r.TargetAvailable ? await IommuFwspecOfXlate(fwspec, dev, InstanceOf(r), r) : Errno.ENODEV;
            if (err.Value != 0)
            {
                break;
            }
        }

        if (err.IsOk)
        {
            LogParseEnd(dev);
        }

        if (err == Errno.ENODEV || err == Errno.EPROBE_DEFER)
        {
            FwspecDealloc(fwspec);
            return err;
        }

        if (err.IsError)
        {
            Log(EventLevel.Debug, dev, "of_iommu_configure", $"Adding to IOMMU failed: {err.Value}");
            FwspecDealloc(fwspec);
            return err;
        }

        return await IommuProbeDeviceFwspec(dev, fwspec);
    }

    /// <summary>Models JGG2 iommu_fwspec_assign_iommu() (patch 06) with the optional F1 fix.</summary>
    private async KTask<Errno> IommuFwspecAssignIommu(Fwspec fwspec, Device dev, IommuInstance? fwnode)
    {
        if (fwspec.Fwnode is not null)
        {
            var ops = await IommuOpsFromFwnode(fwnode);
            if (ops is null && Switches.AssignIommuDefers)
            {
                return await DriverDeferredProbeCheckState(dev);
            }

            return fwspec.Ops != ops ? Errno.EINVAL : Errno.Ok;
        }

        if (fwspec.Ops is null)
        {
            var ops = await IommuOpsFromFwnode(fwnode);
            if (ops is null)
            {
                return await DriverDeferredProbeCheckState(dev);
            }

            fwspec.Ops = ops;
        }

        fwnode!.FwnodeRefs++;
        fwspec.Fwnode = fwnode;
        return Errno.Ok;
    }

    /// <summary>Models JGG2 iommu_fwspec_of_xlate() (patch 08), with HF2's dev_iommu_free on defer.</summary>
    private async KTask<Errno> IommuFwspecOfXlate(Fwspec fwspec, Device dev, IommuInstance? fwnode, FwRef r)
    {
        var err = await IommuFwspecAssignIommu(fwspec, dev, fwnode);
        if (err.Value != 0)
        {
            Log(EventLevel.Trace, dev, "iommu_fwspec_assign_iommu", $"{r.TargetPath}: {err}");
            if (err == Errno.EPROBE_DEFER && Switches.FreeDevIommuOnDefer)
            {
                await Sched.Lock(ProbeLock);
                await DevIommuFree(dev, "iommu_fwspec_of_xlate on -EPROBE_DEFER (HF2)");
                await Sched.Unlock(ProbeLock);
            }

            return err;
        }

        var ops = fwspec.Ops!;
        if (!ops.HasOfXlate)
        {
            return Errno.ENODEV;
        }

        var locked = ConfigureTakesProbeLock;
        if (locked)
        {
            await Sched.Lock(ProbeLock);
        }

        var di = await DevIommuGet(dev);
        if (di.Fwspec is { } other && other != fwspec)
        {
            FwspecDealloc(other);
        }

        di.Fwspec = fwspec;
        var ret = await ops.OfXlate(dev, r);
        await Write(ObjectKind.DevIommu, dev.Index);
        if (dev.Iommu?.Fwspec == fwspec)
        {
            dev.Iommu.Fwspec = null;
        }

        if (locked)
        {
            await Sched.Unlock(ProbeLock);
        }

        return ret;
    }
}
