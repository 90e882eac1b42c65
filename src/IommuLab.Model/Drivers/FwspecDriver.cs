using IommuLab.Model.Exploration;
using IommuLab.Model.Kernel;

namespace IommuLab.Model.Drivers;

/// <summary>The differences between the "fwspec drivers" the model covers (spec §6.10).</summary>
public sealed record FwspecDriverModel(
    string Name,
    bool RangeCheck,
    bool DuplicateCheck,
    bool GroupBySharedStream,
    bool MaskCell)
{
    /// <summary>arm-smmu-v3: -ERANGE beyond the stream table, -EINVAL for a SID another master already owns.</summary>
    public static FwspecDriverModel SmmuV3 { get; } = new("arm-smmu-v3", true, true, false, false);

    /// <summary>
    /// arm-smmu (v1/v2/MMU-500): fwid = SID | mask &lt;&lt; 16; masters sharing a stream entry share its group. Its
    /// range check is on the SMR field widths (<see cref="FwspecDriver.SmrFieldMask"/>), not a stream table.
    /// </summary>
    public static FwspecDriverModel Smmu { get; } = new("arm-smmu", false, false, true, true);

    /// <summary>virtio-iommu: endpoint IDs, one group per device.</summary>
    public static FwspecDriverModel Virtio { get; } = new("virtio-iommu", false, false, false, false);

    /// <summary>Any other <c>#iommu-cells</c> provider: IDs appended, fwspec required, one group per device.</summary>
    public static FwspecDriverModel Generic { get; } = new("generic-iommu", false, false, false, false);

    public static FwspecDriverModel For(IommuDriverKind kind) => kind switch
    {
        IommuDriverKind.ArmSmmuV3 => SmmuV3,
        IommuDriverKind.ArmSmmu => Smmu,
        IommuDriverKind.VirtioIommu => Virtio,
        _ => Generic,
    };
}

/// <summary>An SMMU/virtio master allocated in probe_device into <c>dev->iommu->priv</c>.</summary>
public sealed class FwspecMaster(int ledgerId, IommuInstance instance, IReadOnlyList<uint> ids) : ILedgered
{
    public int LedgerId { get; } = ledgerId;

    public IommuInstance Instance { get; } = instance;

    public IReadOnlyList<uint> Ids { get; } = ids;

    /// <summary>arm-smmu <c>cfg->smendx[]</c>: the stream-map entry of each fwspec ID (empty for other drivers).</summary>
    public IReadOnlyList<int> SmeIndices { get; init; } = [];

    public string Describe() => $"master#{LedgerId}{{{Instance.Name}:{string.Join(",", Ids)}}}";
}

/// <summary>
/// One arm-smmu stream-map entry: the SMR {id, mask} (valid while <see cref="Count"/> &gt; 0) and its S2CR's count
/// of users and remembered group (<c>smmu->smrs[i]</c>, <c>smmu->s2crs[i]</c>).
/// </summary>
public sealed class SmmuStreamMapEntry
{
    public ushort Id { get; internal set; }

    public ushort Mask { get; internal set; }

    public int Count { get; internal set; }

    public IommuGroup? Group { get; internal set; }

    /// <summary>The device that claimed the entry (for the log).</summary>
    public Device? FirstOwner { get; internal set; }
}

/// <summary>Per-instance state of a fwspec driver: the stream table (STE / S2CR) and which master owns each ID.</summary>
public sealed class FwspecInstanceState
{
    public SortedDictionary<uint, (StreamMode Mode, string? Ttbr, Device Owner)> Streams { get; } = [];

    public Dictionary<uint, IommuGroup> StreamGroups { get; } = [];

    /// <summary>arm-smmu's stream-match registers, in index order (as many as the knob num-smrs allows; unbounded without it).</summary>
    public List<SmmuStreamMapEntry> StreamMap { get; } = [];
}

/// <summary>
/// Models the "fwspec driver" family (arm-smmu-v3 per spec §6.10, arm-smmu, virtio-iommu, generic): IDs live in the
/// fwspec, the master is created in probe_device, and the instance is found by the fwspec's fwnode only.
/// </summary>
public sealed class FwspecDriver(Kernel.Kernel kernel, FwspecDriverModel model) : IommuDriver(kernel)
{
    private IommuDomain? _identity;
    private IommuDomain? _blocked;

    public FwspecDriverModel Model { get; } = model;

    public override string Name => Model.Name;

    /// <summary>viommu_probe() does not check iommu_device_register() (v6.12, and 7.x still prints its "input address" line).</summary>
    internal override bool IgnoresRegisterError => Model == FwspecDriverModel.Virtio;

    private static FwspecInstanceState StateOf(IommuInstance inst) => (FwspecInstanceState)inst.DriverData!;

    internal override async KTask<Errno> ProbeInstance(IommuInstance inst)
    {
        await K.Write(ObjectKind.InstanceRegisters, inst.Index);
        inst.DriverData = new FwspecInstanceState();
        K.Log(EventLevel.Info, K.Devices[inst.Info.Device], "probe", $"{Name} instance initialized ({inst.Info.NumStreams} stream IDs)");
        return Errno.Ok;
    }

    /// <summary>
    /// Models the drivers' of_xlate: iommu_fwspec_add_ids() of the specifier's ID. The SMMU and virtio drivers read
    /// one cell; drivers with `#iommu-cells = &lt;0&gt;` (rockchip, exynos-sysmmu, ...) serve one implicit master per
    /// instance, recorded here as stream 0 (their of_xlate succeeds without an ID).
    /// </summary>
    internal override async KTask<Errno> OfXlate(Device dev, FwRef spec)
    {
        if (spec.Args.Length == 0)
        {
            return Model == FwspecDriverModel.Generic ? await IommuFwspecAddIds(dev, 0) : Errno.EINVAL;
        }

        return await IommuFwspecAddIds(dev, FwspecId(spec));
    }

    /// <summary>
    /// Models the fwid arm_smmu_of_xlate() builds (drivers/iommu/arm/arm-smmu/arm-smmu.c, v6.1-v6.18): the first cell
    /// in ARM_SMMU_SMR_ID (bits 0-15), the second in ARM_SMMU_SMR_MASK (bits 16-31), each cut to its field by
    /// FIELD_PREP; a one-cell specifier takes its mask from the SMMU node's <c>stream-match-mask</c>, if any.
    /// arm-smmu-v3 and virtio-iommu take the first cell whole.
    /// </summary>
    public override uint FwspecId(FwRef spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (!Model.MaskCell || spec.Args.Length == 0)
        {
            return base.FwspecId(spec);
        }

        var nodeMask = spec.Instance is { } j && j < K.Instances.Count ? K.Instances[j].Info.StreamMatchMask ?? 0 : 0;
        var mask = (spec.Args.Length > 1 ? spec.Args[1] : nodeMask) & 0xffff;
        return (spec.Args[0] & 0xffff) | (mask << 16);
    }

    /// <summary>Models iommu_fwspec_add_ids(): -EINVAL without a fwspec; appends without de-duplication.</summary>
    private async KTask<Errno> IommuFwspecAddIds(Device dev, uint id)
    {
        await K.Write(ObjectKind.DevIommu, dev.Index);
        if (dev.Iommu?.Fwspec is not { } fw)
        {
            return Errno.EINVAL;
        }

        fw.Ids.Add(id);
        return Errno.Ok;
    }

    /// <summary>
    /// arm-smmu's smmu->streamid_mask and smr_mask_mask: 2^NUMSIDB - 1 from SMMU_IDR0 (knob <c>num-streams</c>; 16
    /// bits when not given, the widest SMR), which arm_smmu_test_smr_masks() confirms by writing SMR0 and reading it
    /// back; both fields are modelled as wide as the stream IDs.
    /// </summary>
    internal static uint SmrFieldMask(IommuInstanceInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        var streams = System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, info.NumStreams));
        return (uint)Math.Min(streams, 1u << 16) - 1;
    }

    /// <summary>
    /// The stream ID in a fwspec ID: arm-smmu packs the SMR mask above bit 16 (ARM_SMMU_SMR_ID is bits 0-15);
    /// arm-smmu-v3 and virtio-iommu IDs are whole 32-bit StreamIDs / endpoint IDs.
    /// </summary>
    private uint StreamOf(uint id) => Model.MaskCell ? id & 0xffff : id;

    /// <summary>Models arm_smmu_probe_device()/viommu_probe_device() (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c, arm-smmu/arm-smmu.c, virtio-iommu.c): fwspec required (with the driver's own ops before v6.8), master in priv, IDs validated.</summary>
    internal override async KTask<(IommuInstance?, Errno)> ProbeDevice(Device dev)
    {
        await K.Read(ObjectKind.DevIommu, dev.Index);
        var fw = dev.Iommu?.Fwspec;
        if (fw?.Fwnode is not { } inst || inst.Driver != this)
        {
            return (null, Errno.ENODEV);
        }

        // v6.6/v6.7 arm_smmu_probe_device() (both SMMU drivers) and viommu_probe_device(): a fwspec whose ops are not
        // the driver's, such as the ops==NULL placeholder an earlier deferral left, is "not ours": -ENODEV, and
        // iommu_init_device() frees dev->iommu with it. Removed in v6.8 (e7080665c977).
        if (K.Switches.FwspecDriverChecksOps && Model != FwspecDriverModel.Generic && fw.Ops != this)
        {
            K.Log(EventLevel.Trace, dev, Model == FwspecDriverModel.Virtio ? "viommu_probe_device" : "arm_smmu_probe_device",
                fw.Ops is null ? "fwspec->ops is NULL (placeholder from an earlier deferral): not ours, -ENODEV" : $"fwspec->ops is {fw.Ops.Name}'s: not ours, -ENODEV");
            return (null, Errno.ENODEV);
        }

        // rk_iommu/exynos/ipmmu/sun50i/qcom_iommu keep what of_xlate built in priv and refuse a device without it;
        // a placeholder fwspec (of_xlate never ran) therefore gets -ENODEV, not a master without streams.
        if (Model == FwspecDriverModel.Generic && fw.Ids.Count == 0)
        {
            return (null, Errno.ENODEV);
        }

        if (dev.Iommu!.Priv is not null)
        {
            K.Log(EventLevel.Warn, dev, "arm_smmu_probe_device", "priv already set: -EBUSY");
            return (null, Errno.EBUSY);
        }

        // arm_smmu_probe_device(): every SID and SMR mask must fit the SMR fields, before anything is allocated.
        if (Model.MaskCell)
        {
            var fields = SmrFieldMask(inst.Info);
            foreach (var id in fw.Ids)
            {
                var (sid, mask) = (id & 0xffff, id >> 16);
                if ((sid & ~fields) != 0 || (mask & ~fields) != 0)
                {
                    K.Log(EventLevel.Error, dev, "arm_smmu_probe_device", (sid & ~fields) != 0
                        ? $"stream ID 0x{sid:x} out of range for SMMU (0x{fields:x})"
                        : $"SMR mask 0x{mask:x} out of range for SMMU (0x{fields:x})");
                    return (null, Errno.EINVAL);
                }
            }
        }

        var st = StateOf(inst);
        await K.Write(ObjectKind.InstanceRegisters, inst.Index);
        foreach (var id in fw.Ids)
        {
            var sid = StreamOf(id);
            if (Model.RangeCheck && sid >= inst.Info.NumStreams)
            {
                K.Log(EventLevel.Error, dev, "arm_smmu_init_sid_strtab", $"stream {sid} out of range: -ERANGE");
                return (null, Errno.ERANGE);
            }

            // A SID listed twice by the same master is skipped (v6.12: "Bridged PCI devices may end up with
            // duplicated IDs"); only a SID owned by another master fails.
            if (Model.DuplicateCheck && st.Streams.TryGetValue(sid, out var owner) && owner.Owner != dev)
            {
                if (K.Switches.SmmuAliasedStreamNoDev)
                {
                    K.Log(EventLevel.Warn, dev, "arm_smmu_insert_master", $"Aliasing StreamID 0x{sid:x} (from {owner.Owner.Name}) unsupported, expect DMA to be broken");
                    return (null, Errno.ENODEV);
                }

                K.Log(EventLevel.Warn, dev, "arm_smmu_insert_master", $"stream {sid} already in tree from dev {owner.Owner.Name}");
                return (null, Errno.EINVAL);
            }
        }

        // viommu_probe_endpoint(): a PROBE request for the first ID; the device answers NOENT for an endpoint it
        // does not manage (it sees a function's DMA only under the requester ID that reaches the root complex).
        if (Model == FwspecDriverModel.Virtio && dev.Info.Pci is not null && fw.Ids.Count > 0 && !K.VirtioManagesEndpoint(inst, fw.Ids[0]))
        {
            K.Log(EventLevel.Error, dev, "viommu_probe_endpoint", $"PROBE of endpoint 0x{fw.Ids[0]:x}: VIRTIO_IOMMU_S_NOENT (-ENOENT)");
            return (null, Errno.ENOENT);
        }

        IReadOnlyList<int> smes = [];
        if (Model.MaskCell)
        {
            var (indices, err) = AllocSmes(dev, st, fw.Ids, inst.Info.NumSmrs ?? int.MaxValue);
            if (err.IsError)
            {
                return (null, err);
            }

            smes = indices;
        }

        var master = new FwspecMaster(K.Ledger.Alloc(AllocKind.SmmuMaster, $"{Name} master of {dev.Name}", K.EventIndex), inst, [.. fw.Ids.Select(StreamOf)]) { SmeIndices = smes };
        dev.Iommu.Priv = master;
        foreach (var sid in master.Ids)
        {
            st.Streams.TryAdd(sid, (StreamMode.Disabled, null, dev));
        }

        return (inst, Errno.Ok);
    }

    /// <summary>
    /// Models arm_smmu_master_alloc_smes() with arm_smmu_find_sme() (drivers/iommu/arm/arm-smmu/arm-smmu.c, v6.1-v6.18):
    /// per fwspec ID, in order, reuse a valid entry that wholly contains {sid, mask}, fail with -EINVAL when it only
    /// partly overlaps one (some stream would match two entries), else claim the first free entry, or fail with
    /// -ENOSPC when all <paramref name="capacity"/> entries are in use (knob num-smrs). Entries claimed for earlier
    /// IDs of the same device count, and a failure gives back what this call took.
    /// </summary>
    private (IReadOnlyList<int> Indices, Errno Error) AllocSmes(Device dev, FwspecInstanceState st, IReadOnlyList<uint> ids, int capacity)
    {
        var taken = new List<int>();
        foreach (var id in ids)
        {
            var sid = (ushort)(id & 0xffff);
            var mask = (ushort)(id >> 16);
            var free = -1;
            var found = -1;
            for (var i = 0; i < st.StreamMap.Count; i++)
            {
                var e = st.StreamMap[i];
                if (e.Count == 0)
                {
                    free = free < 0 ? i : free;
                    continue;
                }

                if ((mask & e.Mask) == mask && ((sid ^ e.Id) & ~e.Mask & 0xffff) == 0)
                {
                    found = i;
                    break;
                }

                if (((sid ^ e.Id) & ~(e.Mask | mask) & 0xffff) == 0)
                {
                    K.Log(EventLevel.Error, dev, "arm_smmu_find_sme", $"SMR {{0x{sid:x} mask 0x{mask:x}}} partly overlaps stream-map entry {i} {{0x{e.Id:x} mask 0x{e.Mask:x}}} of {e.FirstOwner?.Name}: -EINVAL");
                    GiveBack(st, taken);
                    return ([], Errno.EINVAL);
                }
            }

            var idx = found >= 0 ? found : free >= 0 ? free : st.StreamMap.Count;
            if (idx == st.StreamMap.Count && st.StreamMap.Count >= capacity)
            {
                K.Log(EventLevel.Error, dev, "arm_smmu_find_sme", $"SMR {{0x{sid:x} mask 0x{mask:x}}}: all {st.StreamMap.Count} stream-map entries in use: -ENOSPC");
                GiveBack(st, taken);
                return ([], Errno.ENOSPC);
            }

            if (idx == st.StreamMap.Count)
            {
                st.StreamMap.Add(new SmmuStreamMapEntry());
            }

            var entry = st.StreamMap[idx];
            if (entry.Count == 0)
            {
                entry.Id = sid;
                entry.Mask = mask;
                entry.FirstOwner = dev;
            }

            entry.Count++;
            taken.Add(idx);
        }

        return (taken, Errno.Ok);
    }

    private static void GiveBack(FwspecInstanceState st, List<int> taken)
    {
        foreach (var t in taken)
        {
            if (--st.StreamMap[t].Count == 0)
            {
                st.StreamMap[t].Group = null;
                st.StreamMap[t].FirstOwner = null;
            }
        }
    }

    internal override async KTask ReleaseDevice(Device dev)
    {
        await K.Write(ObjectKind.DevIommu, dev.Index);
        if (dev.Iommu?.Priv is FwspecMaster m)
        {
            var st = StateOf(m.Instance);

            // arm_smmu_master_free_smes() -> arm_smmu_free_sme(): the last user resets the entry and its group.
            foreach (var idx in m.SmeIndices)
            {
                var e = st.StreamMap[idx];
                if (--e.Count == 0)
                {
                    e.Group = null;
                    e.FirstOwner = null;
                }
            }

            foreach (var sid in m.Ids)
            {
                if (st.Streams.TryGetValue(sid, out var s) && s.Owner == dev)
                {
                    st.Streams.Remove(sid);
                }
            }

            if (K.Ledger.IsLive(m.LedgerId))
            {
                K.Ledger.Free(m.LedgerId, K.EventIndex);
            }

            dev.Iommu.Priv = null;
        }
    }

    /// <summary>generic_device_group(), or arm-smmu's shared stream-entry group.</summary>
    internal override async KTask<(IommuGroup?, Errno)> DeviceGroup(Device dev)
    {
        var m = (FwspecMaster)dev.Iommu!.Priv!;
        var st = StateOf(m.Instance);
        await K.Write(ObjectKind.InstanceRegisters, m.Instance.Index);
        IommuGroup? group = null;
        if (Model.MaskCell)
        {
            // arm_smmu_device_group(): the group remembered by the masters' stream-map entries; as in the kernel the
            // loop keeps the last entry's group (NULL included) and fails on two different groups.
            foreach (var idx in m.SmeIndices)
            {
                var g = st.StreamMap[idx].Group is { Freed: false } live ? live : null;
                if (group is not null && g is not null && group != g)
                {
                    K.Log(EventLevel.Warn, dev, "arm_smmu_device_group", $"stream-map entries of {group} and {g}: -EINVAL");
                    return (null, Errno.EINVAL);
                }

                group = g;
            }
        }
        else if (Model.GroupBySharedStream)
        {
            foreach (var sid in m.Ids)
            {
                if (st.StreamGroups.TryGetValue(sid, out var g) && !g.Freed)
                {
                    if (group is not null && group != g)
                    {
                        return (null, Errno.EINVAL);
                    }

                    group = g;
                }
            }
        }

        if (group is not null)
        {
            group.Refs++;
            return (group, Errno.Ok);
        }

        // arm_smmu_device_group(), viommu_device_group(): pci_device_group() for a PCI function.
        group = dev.Info.Pci is not null ? await K.PciDeviceGroup(dev, this) : K.NewGroup(this, dev);
        foreach (var sid in m.Ids)
        {
            st.StreamGroups[sid] = group;
        }

        foreach (var idx in m.SmeIndices)
        {
            st.StreamMap[idx].Group = group;
        }

        return (group, Errno.Ok);
    }

    internal override DomainType DefDomainType(Device dev) => DomainType.None;

    internal override KTask<(IommuDomain?, Errno)> DomainAlloc(DomainType type, Device dev) => KTask<(IommuDomain?, Errno)>.FromResult(type switch
    {
        DomainType.Identity => (_identity ??= K.NewDomain(DomainType.Identity, this), Errno.Ok),
        DomainType.Blocked => (_blocked ??= K.NewDomain(DomainType.Blocked, this), Errno.Ok),
        _ => (K.NewDomain(type, this), Errno.Ok),
    });

    /// <summary>Writes the stream table entries of every ID of the master.</summary>
    internal override async KTask<Errno> AttachDev(IommuDomain domain, Device dev)
    {
        if (dev.Iommu?.Priv is not FwspecMaster m)
        {
            return Errno.ENODEV;
        }

        await K.Write(ObjectKind.InstanceRegisters, m.Instance.Index);
        var st = StateOf(m.Instance);
        var mode = domain.Type switch
        {
            DomainType.Identity => StreamMode.Bypass,
            DomainType.Blocked => StreamMode.Disabled,
            _ => StreamMode.Translate,
        };
        foreach (var sid in m.Ids)
        {
            st.Streams[sid] = (mode, mode == StreamMode.Translate ? $"domain {domain.Id}" : null, dev);
        }

        return K.Dma.AttachFwspecStreams(m.Instance, Model.MaskCell ? [.. dev.Iommu.Fwspec?.Ids ?? []] : m.Ids, domain);
    }

    public override IEnumerable<StreamState> Streams(IommuInstance inst)
    {
        if (inst.DriverData is not FwspecInstanceState st)
        {
            yield break;
        }

        foreach (var (sid, s) in st.Streams)
        {
            yield return new StreamState((int)sid, s.Mode, s.Ttbr, s.Owner.Group?.Id);
        }
    }

    public override StreamState? Stream(IommuInstance inst, uint sid)
    {
        ArgumentNullException.ThrowIfNull(inst);
        return inst.DriverData is FwspecInstanceState st && st.Streams.TryGetValue(sid, out var s)
            ? new StreamState((int)sid, s.Mode, s.Ttbr, s.Owner.Group?.Id)
            : null;
    }

    public override IReadOnlyList<(IommuInstance Instance, uint Id)> Configured(Device dev) =>
        dev.Iommu?.Fwspec is { Fwnode: { } inst } fw ? [.. fw.Ids.Select(i => (inst, StreamOf(i)))] : [];

    public override IReadOnlyList<(IommuInstance Instance, uint Id)> GroupCoverage(Device dev) =>
        dev.Group is not null && dev.Iommu?.Priv is FwspecMaster m ? [.. m.Ids.Select(i => (m.Instance, i))] : [];
}
