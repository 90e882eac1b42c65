using IommuLab.Model.Exploration;
using IommuLab.Model.Kernel;

namespace IommuLab.Model.Drivers;

/// <summary>Per-DART driver state (<c>struct apple_dart</c>): hardware parameters, stream registers, sid2group.</summary>
public sealed class DartState(DartHardware hw)
{
    public DartHardware Hw { get; } = hw;

    public StreamMode[] Tcr { get; } = new StreamMode[256];

    public string?[] Ttbr { get; } = new string?[256];

    public IommuGroup?[] Sid2Group { get; } = new IommuGroup?[256];

    public bool Locked { get; internal set; }
}

/// <summary>One slot of <c>apple_dart_master_cfg</c> / a domain's stream maps.</summary>
public sealed class DartStreamMap
{
    public IommuInstance? Dart { get; set; }

    public SortedSet<int> Sids { get; } = [];

    public DartStreamMap Copy()
    {
        var c = new DartStreamMap { Dart = Dart };
        c.Sids.UnionWith(Sids);
        return c;
    }
}

/// <summary><c>struct apple_dart_master_cfg</c>, allocated in of_xlate into <c>dev->iommu->priv</c> (spec §6.2).</summary>
public sealed class DartMasterCfg(int ledgerId, int slots) : ILedgered
{
    public int LedgerId { get; } = ledgerId;

    public DartStreamMap[] Slots { get; } = [.. Enumerable.Range(0, slots).Select(_ => new DartStreamMap())];

    public bool SupportsBypass { get; set; } = true;

    public IEnumerable<DartStreamMap> Used => Slots.Where(s => s.Dart is not null);

    public string Describe() => $"cfg#{LedgerId}{{{Format(Slots)}}}";

    internal static string Format(IEnumerable<DartStreamMap> maps) =>
        string.Join(", ", maps.Where(s => s.Dart is not null).Select(s => $"{s.Dart!.Name}:{string.Join(",", s.Sids)}"));
}

/// <summary>A paging domain's finalized DART tuple (<c>struct apple_dart_domain</c>).</summary>
public sealed class DartDomain
{
    public DartStreamMap[]? Maps { get; set; }

    public bool ReadsBackLockedTtbr { get; set; }
}

/// <summary>
/// Models drivers/iommu/apple-dart.c (spec §6): t8103, t8103-usb4, t6000 and t8110 variants; master cfg created in
/// of_xlate; slots and compatibility checks; sid2group groups; identity/blocked/paging domains bound to the DART
/// tuple; locked DARTs (mainline: probe fails; downstream switch: probes and reuses the bootloader TTBR).
/// </summary>
public sealed class AppleDart(Kernel.Kernel kernel) : IommuDriver(kernel)
{
    private IommuDomain? _identity;
    private IommuDomain? _blocked;

    public override string Name => "apple-dart";

    private static DartState StateOf(IommuInstance inst) => (DartState)inst.DriverData!;

    private static DartMasterCfg? CfgOf(Device dev) => dev.Iommu?.Priv as DartMasterCfg;

    /// <summary>Models apple_dart_probe() up to registration: read PARAMS, reset (fails when locked on mainline).</summary>
    internal override async KTask<Errno> ProbeInstance(IommuInstance inst)
    {
        var hw = inst.Info.Dart!;
        var dev = K.Devices[inst.Info.Device];
        await K.Write(ObjectKind.InstanceRegisters, inst.Index);
        var state = new DartState(hw);
        inst.DriverData = state;
        if (hw.Locked)
        {
            if (!K.Switches.DartLockedSupport)
            {
                K.Log(EventLevel.Error, dev, "apple_dart_hw_reset", "DART is locked down until reboot");
                return Errno.EINVAL;
            }

            state.Locked = true;
            foreach (var sid in hw.LockedSids)
            {
                state.Tcr[sid] = StreamMode.Translate;
                state.Ttbr[sid] = "bootloader";
            }

            K.Log(EventLevel.Info, dev, "apple_dart_probe", "DART is locked: reset skipped, bootloader translation kept");
        }

        K.Log(EventLevel.Info, dev, "apple_dart_probe", $"DART [pagesize {hw.PgSize:x}, {hw.NumStreams} streams, bypass support: {(hw.SupportsBypass ? 1 : 0)}, locked: {(state.Locked ? 1 : 0)}] initialized");
        return Errno.Ok;
    }

    /// <summary>Models apple_dart_of_xlate() (spec §6.2): cfg allocated before the checks, slot by first appearance.</summary>
    internal override async KTask<Errno> OfXlate(Device dev, FwRef spec)
    {
        var dart = K.InstanceOf(spec)!;
        var hw = StateOf(dart).Hw;
        if (spec.Args.Length != 1)
        {
            return Errno.EINVAL;
        }

        var sid = (int)Math.Min(spec.Args[0], 255u);
        await K.Write(ObjectKind.DevIommu, dev.Index);
        if (dev.Iommu is null)
        {
            K.RecordUseAfterFree(dev, "apple_dart_of_xlate", "dev_iommu_priv_set() on a freed dev->iommu");
            return Errno.ENODEV;
        }

        var cfg = CfgOf(dev);
        if (cfg is null)
        {
            cfg = new DartMasterCfg(K.Ledger.Alloc(AllocKind.DartCfg, $"apple_dart_master_cfg of {dev.Name}", K.EventIndex), K.Switches.DartMaxDarts);
            dev.Iommu.Priv = cfg;
        }

        if (cfg.Slots[0].Dart is { } first)
        {
            var fhw = StateOf(first).Hw;
            if (K.Switches.DartBypass == DartBypassRule.RequireEqual && fhw.SupportsBypass != hw.SupportsBypass)
            {
                K.Log(EventLevel.Trace, dev, "apple_dart_of_xlate", $"{dart.Name}: bypass support differs from {first.Name}: -EINVAL");
                return Errno.EINVAL;
            }

            if (fhw.PgSize != hw.PgSize || (K.Switches.DartCheckIas && fhw.Ias != hw.Ias))
            {
                K.Log(EventLevel.Trace, dev, "apple_dart_of_xlate", $"{dart.Name}: page size/ias differs from {first.Name}: -EINVAL");
                return Errno.EINVAL;
            }
        }

        if (K.Switches.DartBypass == DartBypassRule.AllowMismatch)
        {
            cfg.SupportsBypass &= hw.SupportsBypass;
        }

        foreach (var slot in cfg.Slots)
        {
            if (slot.Dart == dart)
            {
                slot.Sids.Add(sid);
                return Errno.Ok;
            }
        }

        foreach (var slot in cfg.Slots)
        {
            if (slot.Dart is null)
            {
                slot.Dart = dart;
                slot.Sids.Add(sid);
                return Errno.Ok;
            }
        }

        K.Log(EventLevel.Trace, dev, "apple_dart_of_xlate", $"{dart.Name}: no free slot (MAX_DARTS_PER_DEVICE = {K.Switches.DartMaxDarts}): -EINVAL");
        return Errno.EINVAL;
    }

    /// <summary>Models apple_dart_probe_device() (spec §6.3), with the optional AD fwspec check.</summary>
    internal override async KTask<(IommuInstance?, Errno)> ProbeDevice(Device dev)
    {
        await K.Read(ObjectKind.DevIommu, dev.Index);
        var cfg = CfgOf(dev);
        if (cfg is null || (K.Switches.DartProbeChecksFwspec && dev.Iommu?.Fwspec is null))
        {
            return (null, Errno.ENODEV);
        }

        return (cfg.Slots[0].Dart, Errno.Ok);
    }

    /// <summary>Models apple_dart_release_device(): frees cfg (v6.6 also clears priv).</summary>
    internal override async KTask ReleaseDevice(Device dev)
    {
        await K.Write(ObjectKind.DevIommu, dev.Index);
        if (CfgOf(dev) is { } cfg && K.Ledger.IsLive(cfg.LedgerId))
        {
            K.Ledger.Free(cfg.LedgerId, K.EventIndex);
        }

        if (K.Switches.DartReleaseClearsPriv && dev.Iommu is not null)
        {
            dev.Iommu.Priv = null;
        }
    }

    /// <summary>Models apple_dart_device_group() with sid2group under apple_dart_groups_lock (spec §6.4).</summary>
    internal override async KTask<(IommuGroup?, Errno)> DeviceGroup(Device dev)
    {
        var cfg = CfgOf(dev)!;
        IommuGroup? group = null;
        foreach (var slot in cfg.Used)
        {
            var st = StateOf(slot.Dart!);
            await K.Write(ObjectKind.DartGroups, slot.Dart!.Index);
            foreach (var sid in slot.Sids.Where(s => s < st.Hw.NumStreams))
            {
                var g = st.Sid2Group[sid];
                if (group is not null && group != g)
                {
                    K.Log(EventLevel.Trace, dev, "apple_dart_device_group", $"{slot.Dart.Name} sid {sid} is in {(g is null ? "no group" : g.ToString())}, earlier streams in {group}: -EINVAL");
                    return (null, Errno.EINVAL);
                }

                group = g;
            }
        }

        if (group is not null)
        {
            group.Refs++;
            return (group, Errno.Ok);
        }

        group = K.NewGroup(this, dev);
        group.IommuData = new DartMasterCfgSnapshot([.. cfg.Slots.Select(s => s.Copy())]);
        foreach (var slot in cfg.Used)
        {
            var st = StateOf(slot.Dart!);
            foreach (var sid in slot.Sids.Where(s => s < st.Hw.NumStreams))
            {
                st.Sid2Group[sid] = group;
            }
        }

        return (group, Errno.Ok);
    }

    /// <summary>Models apple_dart_release_group(): clears sid2group for the group's iommudata streams.</summary>
    internal override async KTask ReleaseGroupData(IommuGroup group)
    {
        if (group.IommuData is DartMasterCfgSnapshot snap)
        {
            foreach (var slot in snap.Slots.Where(s => s.Dart is not null))
            {
                await K.Write(ObjectKind.DartGroups, slot.Dart!.Index);
                var st = StateOf(slot.Dart);
                foreach (var sid in slot.Sids.Where(s => s < st.Hw.NumStreams))
                {
                    if (st.Sid2Group[sid] == group)
                    {
                        st.Sid2Group[sid] = null;
                    }
                }
            }
        }
    }

    private bool BypassOk(DartMasterCfg cfg) =>
        K.Switches.DartBypass == DartBypassRule.AllowMismatch ? cfg.SupportsBypass : StateOf(cfg.Slots[0].Dart!).Hw.SupportsBypass;

    private static bool AnyLocked(DartMasterCfg cfg) => cfg.Used.Any(s => StateOf(s.Dart!).Locked);

    /// <summary>Models apple_dart_def_domain_type() (spec §6.5, §6.6).</summary>
    internal override DomainType DefDomainType(Device dev)
    {
        var cfg = CfgOf(dev);
        if (cfg?.Slots[0].Dart is not { } first)
        {
            return DomainType.None;
        }

        if (K.Switches.DartLockedSupport && AnyLocked(cfg))
        {
            return DomainType.Dma;
        }

        if (StateOf(first).Hw.PgSize > K.Platform.Knobs.PageSize)
        {
            return DomainType.Identity;
        }

        return BypassOk(cfg) ? DomainType.None : DomainType.Dma;
    }

    /// <summary>Static identity/blocked domains; domain_alloc_paging() finalized eagerly with the device (spec §6.5).</summary>
    internal override async KTask<(IommuDomain?, Errno)> DomainAlloc(DomainType type, Device dev)
    {
        switch (type)
        {
            case DomainType.Identity:
                return (_identity ??= K.NewDomain(DomainType.Identity, this), Errno.Ok);
            case DomainType.Blocked:
                return (_blocked ??= K.NewDomain(DomainType.Blocked, this), Errno.Ok);
        }

        var dom = K.NewDomain(type, this);
        dom.DriverData = new DartDomain();
        var err = await Finalize(dom, dev);
        return err.IsError ? (null, err) : (dom, Errno.Ok);
    }

    /// <summary>Models apple_dart_finalize_domain(): copies the device's cfg slots into the domain (once).</summary>
    private async KTask<Errno> Finalize(IommuDomain dom, Device dev)
    {
        var dd = (DartDomain)dom.DriverData!;
        var cfg = CfgOf(dev);
        if (cfg?.Slots[0].Dart is not { } first)
        {
            return Errno.ENODEV;
        }

        if (StateOf(first).Hw.PgSize > K.Platform.Knobs.PageSize)
        {
            return Errno.EINVAL;
        }

        if (dd.Maps is not null)
        {
            return Errno.Ok;
        }

        await K.Read(ObjectKind.DevIommu, dev.Index);
        dd.Maps = [.. cfg.Slots.Select(s => s.Copy())];
        if (K.Switches.DartLockedSupport && AnyLocked(cfg))
        {
            var locked = cfg.Used.Where(s => StateOf(s.Dart!).Locked).ToList();
            if (locked.Sum(s => s.Sids.Count) > 1)
            {
                return Errno.EINVAL;
            }

            dd.ReadsBackLockedTtbr = true;
            K.Log(EventLevel.Info, dev, "apple_dart_finalize_domain", $"{dom}: page table built on the TTBR read back from locked {locked[0].Dart!.Name}");
        }

        return K.Dma.FinalizeDartDomain(dom);
    }

    /// <summary>Models the attach_dev of the identity, blocked and paging domains (spec §6.5, §6.6).</summary>
    internal override async KTask<Errno> AttachDev(IommuDomain domain, Device dev)
    {
        var cfg = CfgOf(dev);
        if (cfg is null)
        {
            return Errno.ENODEV;
        }

        var locked = K.Switches.DartLockedSupport && AnyLocked(cfg);
        switch (domain.Type)
        {
            case DomainType.Identity:
                if (!BypassOk(cfg) || locked)
                {
                    return Errno.EINVAL;
                }

                foreach (var s in cfg.Used)
                {
                    await Program(s, StreamMode.Bypass, null);
                }

                return Errno.Ok;
            case DomainType.Blocked:
                if (locked)
                {
                    return Errno.EINVAL;
                }

                foreach (var s in cfg.Used)
                {
                    await Program(s, StreamMode.Disabled, null);
                }

                return Errno.Ok;
        }

        var err = await Finalize(domain, dev);
        if (err.IsError)
        {
            return err;
        }

        var dd = (DartDomain)domain.DriverData!;
        for (var i = 0; i < cfg.Slots.Length; i++)
        {
            if (dd.Maps![i].Dart != cfg.Slots[i].Dart)
            {
                K.Log(EventLevel.Trace, dev, "apple_dart_mod_streams", $"slot {i}: domain has {dd.Maps[i].Dart?.Name ?? "none"}, device has {cfg.Slots[i].Dart?.Name ?? "none"}: -EINVAL");
                return Errno.EINVAL;
            }
        }

        for (var i = 0; i < cfg.Slots.Length; i++)
        {
            dd.Maps![i].Sids.UnionWith(cfg.Slots[i].Sids);
        }

        foreach (var s in cfg.Used)
        {
            if (StateOf(s.Dart!).Locked)
            {
                // Locked DARTs keep the bootloader's registers: only a TLB invalidate.
                await K.Write(ObjectKind.InstanceRegisters, s.Dart!.Index);
                continue;
            }

            await Program(s, StreamMode.Translate, $"domain {domain.Id}", domain);
        }

        return Errno.Ok;
    }

    private async KTask Program(DartStreamMap s, StreamMode mode, string? ttbr, IommuDomain? domain = null)
    {
        await K.Write(ObjectKind.InstanceRegisters, s.Dart!.Index);
        var st = StateOf(s.Dart);
        K.Dma.ProgramDart(s.Dart, s.Sids, mode, domain);
        foreach (var sid in s.Sids.Where(x => x < st.Hw.NumStreams))
        {
            st.Tcr[sid] = mode;
            st.Ttbr[sid] = ttbr;
        }
    }

    public override IEnumerable<StreamState> Streams(IommuInstance inst)
    {
        if (inst.DriverData is not DartState st)
        {
            yield break;
        }

        for (var sid = 0; sid < st.Hw.NumStreams; sid++)
        {
            if (st.Tcr[sid] != StreamMode.Disabled || st.Sid2Group[sid] is not null)
            {
                yield return new StreamState(sid, st.Tcr[sid], st.Ttbr[sid], st.Sid2Group[sid]?.Id);
            }
        }
    }

    public override IReadOnlyList<(IommuInstance Instance, uint Id)> Configured(Device dev) =>
        CfgOf(dev) is { } cfg && K.Ledger.IsLive(cfg.LedgerId)
            ? [.. cfg.Used.SelectMany(s => s.Sids.Select(sid => (s.Dart!, (uint)sid)))]
            : [];

    public override IReadOnlyList<(IommuInstance Instance, uint Id)> GroupCoverage(Device dev)
    {
        if (dev.Group?.IommuData is not DartMasterCfgSnapshot snap)
        {
            return [];
        }

        var pairs = snap.Slots.Where(s => s.Dart is not null).SelectMany(s => s.Sids.Select(sid => (s.Dart!, (uint)sid))).ToHashSet();
        if (dev.Group.Domain?.DriverData is DartDomain { Maps: { } maps })
        {
            // The domain's stream maps are what attach programmed; a pair counts only if both agree.
            var dom = maps.Where(s => s.Dart is not null).SelectMany(s => s.Sids.Select(sid => (s.Dart!, (uint)sid))).ToHashSet();
            pairs.IntersectWith(dom);
        }

        return [.. pairs.Where(p => StateOf(p.Item1).Sid2Group[(int)p.Item2] == dev.Group)];
    }
}

/// <summary>The group's iommudata: a snapshot of the cfg at device_group time.</summary>
public sealed record DartMasterCfgSnapshot(DartStreamMap[] Slots)
{
    public override string ToString() => DartMasterCfg.Format(Slots);
}
