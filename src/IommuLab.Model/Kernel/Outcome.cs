using IommuLab.Model.Drivers;

namespace IommuLab.Model.Kernel;

/// <summary>A device's class in a quiescent state (spec I1); U = never probed (not classified by I1).</summary>
public enum DeviceClass
{
    /// <summary>Translated: bound or bindable, in a group, iommu_dev from F(D).</summary>
    T,

    /// <summary>Waiting on the deferred list.</summary>
    W,

    /// <summary>Bound without an IOMMU.</summary>
    N,

    /// <summary>Probe failed.</summary>
    X,

    /// <summary>No probe attempted (driver not loaded, or absent).</summary>
    U,
}

/// <summary>A (instance, stream/ID) pair named by firmware or configured by a driver.</summary>
public readonly record struct StreamRef(string Instance, uint Id)
{
    public override string ToString() => $"{Instance}:{Id}";
}

/// <summary>The quiescent facts about one consumer, canonical and comparable (an element of the outcome).</summary>
public sealed record DeviceOutcome(
    string Path,
    string Name,
    DeviceClass Class,
    string DriverState,
    IReadOnlyList<StreamRef> Firmware,
    IReadOnlyList<StreamRef> Configured,
    IReadOnlyList<StreamRef> GroupCoverage,
    string Fwspec,
    string DevIommu,
    string Priv,
    string? PrimaryIommu,
    int? Group,
    string? Domain,
    string Dma,
    IReadOnlyList<string> Warnings)
{
    /// <summary>A PCI function's DMA aliases in pci_for_each_dma_alias() order; empty for a platform device.</summary>
    public IReadOnlyList<PciDmaAlias> DmaAliases { get; init; } = [];

    /// <summary>How the device's driver is available (built in, module, absent).</summary>
    public DriverAvailability DriverAvailability { get; init; }
}

/// <summary>Quiescent state facts derived from a finished kernel (shared by `run`, the invariants and the explorer).</summary>
public static class OutcomeBuilder
{
    /// <summary>F(D): references with available targets up to the first parse error or unavailable target (spec §7).</summary>
    public static IReadOnlyList<FwRef> FirmwareRefs(PlatformDevice dev)
    {
        ArgumentNullException.ThrowIfNull(dev);
        return dev.Iommus.Available;
    }

    public static StreamRef Ref(FwRef r) => new(r.TargetPath, r.Args.Length > 0 ? r.Args[0] : 0);

    public static DeviceClass Classify(Kernel k, Device d)
    {
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(d);
        var f = FirmwareRefs(d.Info);
        if (d.State == DriverState.Failed)
        {
            return DeviceClass.X;
        }

        if (k.Pending.Contains(d) || k.Active.Contains(d) || d.State == DriverState.Deferred)
        {
            return DeviceClass.W;
        }

        if (d.State == DriverState.Bound)
        {
            var inF = d.Iommu?.IommuDev is { } inst && f.Any(r => r.Instance == inst.Index);
            return d.Group is not null && inF ? DeviceClass.T : DeviceClass.N;
        }

        return DeviceClass.U;
    }

    public static DeviceOutcome Of(Kernel k, Device d)
    {
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(d);
        if (k.FrozenOutcomes is { } frozen)
        {
            if (!frozen.TryGetValue(d, out var known))
            {
                known = Build(k, d);
                frozen.Add(d, known);
            }

            return known;
        }

        return Build(k, d);
    }

    /// <summary>
    /// Memoises <see cref="Of(Kernel, Device)"/> until the scope is disposed: the quiescent checks ask for each
    /// consumer's outcome once per invariant, and nothing they do changes it (the DMA check restores what it maps).
    /// </summary>
    public static IDisposable Freeze(Kernel k)
    {
        ArgumentNullException.ThrowIfNull(k);
        if (k.FrozenOutcomes is not null)
        {
            return NoScope.Instance;
        }

        k.FrozenOutcomes = new Dictionary<Device, DeviceOutcome>(ReferenceEqualityComparer.Instance);
        return new FreezeScope(k);
    }

    private sealed class FreezeScope(Kernel k) : IDisposable
    {
        public void Dispose()
        {
            k.FrozenOutcomes = null;
            k.FrozenConsumers = null;
        }
    }

    private sealed class NoScope : IDisposable
    {
        public static NoScope Instance { get; } = new();

        public void Dispose()
        {
        }
    }

    private static DeviceOutcome Build(Kernel k, Device d)
    {
        var drv = d.Iommu?.IommuDev?.Driver ?? d.Group?.Driver;
        var firmware = FirmwareRefs(d.Info).Select(Ref).ToList();
        IReadOnlyList<StreamRef> configured = drv is null || d.Iommu is null ? [] : [.. drv.Configured(d).Select(p => new StreamRef(p.Instance.Info.Path, p.Id))];
        IReadOnlyList<StreamRef> coverage = drv is null ? [] : SortedCoverage(drv.GroupCoverage(d));
        return new DeviceOutcome(
            d.Info.Path,
            d.Name,
            Classify(k, d),
            d.State.ToString(),
            firmware,
            configured,
            coverage,
            d.Iommu is null ? "none" : Kernel.Describe(d.Iommu.Fwspec),
            d.Iommu is null ? "NULL" : $"dev_iommu#{d.Iommu.Id}",
            d.Iommu?.Priv is { } p ? Kernel.DescribePriv(p) : "none",
            d.Iommu?.IommuDev?.Name,
            d.Group?.Id,
            d.Group?.Domain?.ToString(),
            d.State == DriverState.Bound || d.Dma != DmaMode.Unset ? (d.Dma == DmaMode.IommuDma ? "iommu-dma" : "direct") : "-",
            [.. d.Warnings])
        {
            DmaAliases = d.Info.PciDmaAliases,
            DriverAvailability = d.Info.DriverAvailability,
        };
    }

    /// <summary>The coverage by instance path (ordinal), then stream ID; equal entries are equal values, so any sort gives one order.</summary>
    private static List<StreamRef> SortedCoverage(IEnumerable<(IommuInstance Instance, uint Id)> coverage)
    {
        var list = new List<StreamRef>();
        foreach (var (inst, id) in coverage)
        {
            list.Add(new StreamRef(inst.Info.Path, id));
        }

        list.Sort(static (a, b) => string.CompareOrdinal(a.Instance, b.Instance) is var c and not 0 ? c : a.Id.CompareTo(b.Id));
        return list;
    }

    /// <summary>Consumers: devices with an <c>iommus</c> property.</summary>
    public static IEnumerable<Device> Consumers(Kernel k)
    {
        ArgumentNullException.ThrowIfNull(k);
        return k.Devices.Where(d => d.Info.IsConsumer);
    }

    /// <summary>Live allocations nothing reaches any more: leaks (I13).</summary>
    public static IReadOnlyList<Allocation> Leaks(Kernel k)
    {
        ArgumentNullException.ThrowIfNull(k);
        var reachable = new HashSet<int>();
        foreach (var d in k.Devices)
        {
            if (d.Iommu is { } di)
            {
                reachable.Add(di.Id);
                if (di.Fwspec is { } fw)
                {
                    reachable.Add(fw.Id);
                }

                if (di.Priv is ILedgered l)
                {
                    reachable.Add(l.LedgerId);
                }
            }
        }

        return [.. k.Ledger.Items.Where(a => a.Live && !reachable.Contains(a.Id))];
    }
}

/// <summary>
/// The canonical, comparable, hashable quiescent outcome of an execution (DESIGN.md): per consumer its class,
/// configured set, group partition (by first member), domain type and DMA ops; leaked object kinds; crashes;
/// registration failures. Object ids and log text are left out so equal states compare equal across orders.
/// </summary>
public sealed record QuiescentOutcome(string Canonical)
{
    public static QuiescentOutcome Of(Kernel k)
    {
        ArgumentNullException.ThrowIfNull(k);
        var lines = new List<string>();
        foreach (var d in OutcomeBuilder.Consumers(k))
        {
            var o = OutcomeBuilder.Of(k, d);
            var groupKey = d.Group is null ? "-" : d.Group.Devices.Select(x => x.Info.Path).Order(StringComparer.Ordinal).FirstOrDefault() ?? "-";
            lines.Add($"{o.Path} {o.Class} dma={o.Dma} group={groupKey} domain={d.Group?.Domain?.Type.ToString() ?? "-"} covers={string.Join(",", o.GroupCoverage)} configured={string.Join(",", o.Configured)}");
        }

        foreach (var l in OutcomeBuilder.Leaks(k).GroupBy(l => l.Kind).OrderBy(g => g.Key))
        {
            lines.Add($"leak {l.Key} x{l.Count()}");
        }

        lines.AddRange(k.Crashes.Order(StringComparer.Ordinal).Select(c => "crash " + c));
        lines.AddRange(k.Instances.Where(i => i.RegistrationFailed).Select(i => "registration-failed " + i.Info.Path));
        return new QuiescentOutcome(string.Join("\n", lines));
    }

    public override string ToString() => Canonical;
}
