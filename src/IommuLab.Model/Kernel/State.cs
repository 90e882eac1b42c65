using IommuLab.Model.Drivers;

namespace IommuLab.Model.Kernel;

/// <summary>Driver-core state of a device (spec §1.7).</summary>
public enum DriverState
{
    Unbound,
    Probing,
    Deferred,
    Bound,
    Failed,
}

/// <summary>The DMA ops a device uses (spec §4.8).</summary>
public enum DmaMode
{
    Unset,
    Direct,
    IommuDma,
}

/// <summary>IOMMU domain types (spec §1.6).</summary>
public enum DomainType
{
    None,
    Blocked,
    Identity,
    Dma,
    Unmanaged,
}

/// <summary>A <c>struct device</c> in one execution.</summary>
public sealed class Device(PlatformDevice info)
{
    public PlatformDevice Info { get; } = info;

    public int Index => Info.Index;

    /// <summary>The first label, else the node name (read on every log line and lookup, so computed once).</summary>
    public string Name { get; } = info.Labels.FirstOrDefault() ?? info.Name;

    public bool Added { get; internal set; }

    public DriverState State { get; internal set; }

    /// <summary><c>dev->driver != NULL</c> (set by really_probe before dma_configure).</summary>
    public bool HasDriverSet { get; internal set; }

    /// <summary>iommu_device_use_default_domain() counted this device as a DMA-API owner of its group.</summary>
    public bool UsesDefaultDomain { get; internal set; }

    public DevIommu? Iommu { get; internal set; }

    public IommuGroup? Group { get; internal set; }

    public DmaMode Dma { get; internal set; }

    /// <summary>The iommu-dma flag the IOMMU core sets (≥ v6.13: <c>dev->dma_iommu</c>).</summary>
    public bool DmaIommuFlag { get; internal set; }

    public int ProbeAttempts { get; internal set; }

    public Errno? LastProbeError { get; internal set; }

    public string? DeferReason { get; internal set; }

    /// <summary>The device was bound while its configure result was an error other than defer/no-IOMMU.</summary>
    public Errno? BoundDespiteError { get; internal set; }

    /// <summary>Late-probe (I17) and other WARNs.</summary>
    public List<string> Warnings { get; } = [];

    public override string ToString() => Name;
}

/// <summary><c>struct dev_iommu</c>.</summary>
public sealed class DevIommu(int id)
{
    public int Id { get; } = id;

    public Fwspec? Fwspec { get; internal set; }

    public IommuInstance? IommuDev { get; internal set; }

    public object? Priv { get; internal set; }

    /// <summary>The module reference iommu_init_device() took on the driver (module_put() when the device is released).</summary>
    public IommuDriver? ModuleRef { get; internal set; }
}

/// <summary><c>iommu_fwspec.flags</c>.</summary>
[Flags]
public enum FwspecFlags
{
    None = 0,

    /// <summary>IOMMU_FWSPEC_PCI_RC_ATS: the root complex supports ATS (firmware says so).</summary>
    PciRcAts = 1,
}

/// <summary><c>struct iommu_fwspec</c>.</summary>
public sealed class Fwspec(int id)
{
    public int Id { get; } = id;

    /// <summary>K66-K68/JGG2 ops pointer (null = placeholder).</summary>
    public IommuDriver? Ops { get; internal set; }

    /// <summary>The fwnode of the first IOMMU referenced (an instance index), or null (JGG2 before assign).</summary>
    public IommuInstance? Fwnode { get; internal set; }

    public List<uint> Ids { get; } = [];

    public FwspecFlags Flags { get; internal set; }
}

/// <summary>One registered or not-yet-registered IOMMU instance (<c>struct iommu_device</c> and driver state).</summary>
public sealed class IommuInstance(IommuInstanceInfo info)
{
    public IommuInstanceInfo Info { get; } = info;

    public int Index => Info.Index;

    public string Name => Info.Name;

    public IommuDriver? Driver { get; internal set; }

    /// <summary>On <c>iommu_device_list</c>.</summary>
    public bool Registered { get; internal set; }

    /// <summary>K616 <c>iommu->ready</c>.</summary>
    public bool Ready { get; internal set; }

    /// <summary>The platform driver probe ran to its end (drvdata set).</summary>
    public bool Probed { get; internal set; }

    public bool RegistrationFailed { get; internal set; }

    /// <summary>What iommu_device_register() returned when it failed (-EBUSY: another driver holds the bus ops).</summary>
    public Errno? RegistrationError { get; internal set; }

    /// <summary>References held on this fwnode by fwspecs.</summary>
    public int FwnodeRefs { get; internal set; }

    /// <summary>Driver-private per-instance state (apple-dart registers, SMMU stream table).</summary>
    public object? DriverData { get; internal set; }

    public override string ToString() => Name;
}

/// <summary><c>struct iommu_group</c>.</summary>
public sealed class IommuGroup(int id, IommuDriver driver)
{
    public int Id { get; } = id;

    public IommuDriver Driver { get; } = driver;

    public List<Device> Devices { get; } = [];

    public IommuDomain? DefaultDomain { get; internal set; }

    public IommuDomain? Domain { get; internal set; }

    public object? IommuData { get; internal set; }

    public int OwnerCount { get; internal set; }

    public int Refs { get; internal set; }

    public bool Freed { get; internal set; }

    public override string ToString() => $"group {Id}";
}

/// <summary><c>struct iommu_domain</c>.</summary>
public sealed class IommuDomain(int id, DomainType type, IommuDriver driver)
{
    public int Id { get; } = id;

    public DomainType Type { get; } = type;

    public IommuDriver Driver { get; } = driver;

    public bool IsDmaApi => Type == DomainType.Dma;

    /// <summary>Driver data (apple-dart: the finalized DART tuple).</summary>
    public object? DriverData { get; internal set; }

    public override string ToString() => $"{Type.ToString().ToUpperInvariant()} domain {Id}";
}

/// <summary>What a kernel allocation is.</summary>
public enum AllocKind
{
    DevIommu,
    Fwspec,
    DartCfg,
    SmmuMaster,
}

/// <summary>One allocation in the ledger.</summary>
public sealed record Allocation(int Id, AllocKind Kind, string Owner, int AllocEvent, int? FreeEvent)
{
    public bool Live => FreeEvent is null;
}

/// <summary>The allocation ledger: every object the model allocates and frees, so leaks are observable (I13).</summary>
public sealed class Ledger
{
    private readonly List<Allocation> _items = [];

    public IReadOnlyList<Allocation> Items => _items;

    internal int Alloc(AllocKind kind, string owner, int eventIndex)
    {
        _items.Add(new Allocation(_items.Count, kind, owner, eventIndex, null));
        return _items.Count - 1;
    }

    internal void Free(int id, int eventIndex)
    {
        var a = _items[id];
        if (!a.Live)
        {
            throw new InvalidOperationException($"double free of {a.Kind} {id}");
        }

        _items[id] = a with { FreeEvent = eventIndex };
    }

    public bool IsLive(int id) => _items[id].Live;
}

/// <summary>Severity of a kernel log line or model note.</summary>
public enum EventLevel
{
    /// <summary>What the model did (narration), not a kernel log line.</summary>
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// <summary>One event of the execution: a kernel log line or a narrated step.</summary>
public sealed record KernelEvent(int Index, int Step, string Thread, EventLevel Level, string? Device, string Function, string Message);
