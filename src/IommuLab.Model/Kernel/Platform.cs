using System.Collections.Immutable;
using IommuLab.Model.Dma;

namespace IommuLab.Model.Kernel;

/// <summary>How a device's driver is available to the kernel (a platform knob, spec §2.8).</summary>
public enum DriverAvailability
{
    /// <summary>Built in: driver_register() runs at its initcall, before late_initcall; the module owner is NULL.</summary>
    BuiltIn,

    /// <summary>A module: driver_register() runs when the module loads (a LOAD event, or the first REG/PROBE).</summary>
    Module,

    /// <summary>No driver matches the device (not built, or its compatible is not in any match table).</summary>
    Absent,
}

/// <summary>The IOMMU driver model chosen by a provider's <c>compatible</c>.</summary>
public enum IommuDriverKind
{
    AppleDart,
    ArmSmmuV3,
    ArmSmmu,
    VirtioIommu,
    Generic,
}

/// <summary>
/// apple-dart hardware as its registers describe it (spec §6.1): variant defaults, overridable by the
/// <c>iommulab,*</c> properties of the DART node or by knobs, because a DT does not carry register contents.
/// </summary>
public sealed record DartHardware(
    string Variant,
    int Oas,
    int Ias,
    int PgSize,
    int NumStreams,
    bool SupportsBypass,
    bool Locked,
    int TtbrsPerStream,
    IReadOnlyList<int> LockedSids);

/// <summary>One firmware reference D → instance, as of_parse_phandle_with_args() returned it.</summary>
public sealed record FwRef(int Index, string TargetPath, int? Instance, bool TargetAvailable, ImmutableArray<uint> Args)
{
    /// <summary>For a PCI function: the DMA alias (pci_for_each_dma_alias() order) this reference was mapped from.</summary>
    public PciDmaAlias? PciAlias { get; init; }
}

/// <summary>A consumer's <c>iommus</c> list: the references the kernel sees and how the parse loop ends.</summary>
public sealed record FwRefList(ImmutableArray<FwRef> Refs, Errno EndErrno, string? EndLog)
{
    private readonly ImmutableArray<FwRef> _refs = Refs;

    // Boxed once: the checks ask for it as a list several times per consumer and execution.
    private readonly IReadOnlyList<FwRef> _available = Prefix(Refs);

    public ImmutableArray<FwRef> Refs
    {
        get => _refs;
        init
        {
            _refs = value;
            _available = Prefix(value);
        }
    }

    /// <summary>F(D): the references up to the first unavailable target (computed once: every check asks for it).</summary>
    internal IReadOnlyList<FwRef> Available => _available;

    /// <summary>
    /// The list ends with an error the kernel returns (a PCI alias's of_map_id() failure stops
    /// pci_for_each_dma_alias() with it), not with a parse error that silently ends an <c>iommus</c> list.
    /// </summary>
    public bool EndsWithError { get; init; }

    public static FwRefList Empty { get; } = new([], Errno.ENOENT, null);

    public bool IsEmpty => Refs.IsEmpty;

    private static IReadOnlyList<FwRef> Prefix(ImmutableArray<FwRef> refs)
    {
        var n = 0;
        while (n < refs.Length && refs[n].TargetAvailable)
        {
            n++;
        }

        return n == refs.Length ? refs : ImmutableArray.Create(refs, 0, n);
    }
}

/// <summary>An IOMMU instance the kernel may register: an enabled <c>#iommu-cells</c> provider with a platform device.</summary>
public sealed record IommuInstanceInfo(
    int Index,
    int Device,
    string Path,
    string Name,
    string Compatible,
    IommuDriverKind Driver,
    uint IommuCells,
    DriverAvailability Availability,
    bool ProbeFails,
    int NumStreams,
    DartHardware? Dart)
{
    /// <summary>
    /// Knob <c>module-after-timeout</c>: this instance's driver module can load more than
    /// <c>deferred_probe_timeout</c> after the last driver_register() (e.g. a slow root mount), so the timeout can
    /// expire before it registers. Off by default: modules load within the timeout, the premise of spec I5/I6.
    /// </summary>
    public bool ModuleAfterTimeout { get; init; }

    /// <summary>
    /// arm-smmu: the SMMU node's <c>stream-match-mask</c> (first cell, as of_property_read_u32() reads it), which
    /// arm_smmu_of_xlate() puts in the SMR mask of a one-cell specifier. Null when absent.
    /// </summary>
    public uint? StreamMatchMask { get; init; }

    /// <summary>
    /// arm-smmu: stream-map entries (SMMU_IDR0.NUMSMRG), knob <c>num-smrs</c>. Neither DT nor IORT carries it, so by
    /// default there are always enough; with a knob, arm_smmu_find_sme() fails with -ENOSPC when none is free.
    /// </summary>
    public int? NumSmrs { get; init; }

    /// <summary>
    /// The stream-table size assumed for an SMMUv3 without a <c>num-streams</c> knob: neither DT nor IORT carries
    /// SMMU_IDR1.SIDSIZE, so the hardware is taken to cover the highest StreamID the firmware routes to it (at least
    /// 16 bits, at most the knob's 24-bit limit).
    /// </summary>
    public static int StreamTableCovering(ulong highestRoutedId) =>
        (int)Math.Clamp(System.Numerics.BitOperations.RoundUpToPowerOf2(highestRoutedId + 1), 1UL << 16, 1UL << 24);
}

/// <summary>
/// A device the kernel sees: a platform device of_platform_populate() creates, or a PCI function behind a host
/// bridge (<see cref="Rid"/> set; its <see cref="Iommus"/> come from the bridge's <c>iommu-map</c>, one entry per DMA
/// alias in <c>pci_for_each_dma_alias()</c> order, see <see cref="PciTopology.DmaAliases"/>).
/// </summary>
public sealed record PlatformDevice(
    int Index,
    string Path,
    string Name,
    IReadOnlyList<string> Labels,
    string? Compatible,
    bool HasDriver,
    int? Instance,
    FwRefList Iommus,
    uint? Rid = null)
{
    public bool IsPci => Rid is not null;

    /// <summary>How the device's driver is available (an IOMMU instance's is its <see cref="IommuInstanceInfo.Availability"/>).</summary>
    public DriverAvailability DriverAvailability { get; init; } = DriverAvailability.Module;

    /// <summary>
    /// The driver that binds the device: the unit driver_register() registers and a module load makes available
    /// (the IOMMU driver's name, else the first <c>compatible</c>, else the device's own name).
    /// </summary>
    public string DriverName { get; init; } = "";

    /// <summary>The PCI function this device is (bus/devfn, bridge kind, dma_alias_mask), for pci_for_each_dma_alias().</summary>
    public PciFunction? Pci { get; init; }

    /// <summary>The PCI function's DMA aliases in pci_for_each_dma_alias() order (<see cref="PciTopology.DmaAliases"/>).</summary>
    public IReadOnlyList<PciDmaAlias> PciDmaAliases { get; init; } = [];

    /// <summary>Every function behind the same host bridge (one object per host bridge), for pci_device_group().</summary>
    public PciTopology? PciHostTopology { get; init; }

    /// <summary>The PCI host bridge node has <c>ats-supported</c> (of_pci_check_device_ats()).</summary>
    public bool PciRcAts { get; init; }

    /// <summary>An ACPI device (IORT/VIOT): dma_configure runs acpi_iommu_configure_id(), not of_iommu_configure().</summary>
    public AcpiDeviceInfo? Acpi { get; init; }

    public bool IsConsumer => !Iommus.IsEmpty || Iommus.EndErrno != Errno.ENOENT;
}

/// <summary>Platform-wide knobs (kernel config and command line) that are not behaviour switches of a version.</summary>
public sealed record PlatformKnobs
{
    /// <summary>CONFIG_MODULES (decides -ETIMEDOUT vs -ENODEV in driver_deferred_probe_check_state()).</summary>
    public bool Modules { get; init; } = true;

    /// <summary>The execution starts after late_initcall (deferred probing enabled), as when drivers load as modules.</summary>
    public bool AfterLateInitcall { get; init; } = true;

    /// <summary>fw_devlink.strict=1: IOMMUs become mandatory suppliers.</summary>
    public bool FwDevlinkStrict { get; init; }

    /// <summary>
    /// The <c>deferred_probe_timeout=</c> command-line value in seconds; null keeps the config default (10 with
    /// CONFIG_MODULES, 0 without). &gt; 0 arms the timeout work at late_initcall; 0 makes
    /// driver_deferred_probe_check_state() give up as soon as initcalls are done; &lt; 0 never times out.
    /// </summary>
    public int? DeferredProbeTimeout { get; init; }

    /// <summary>The initial <c>driver_deferred_probe_timeout</c> (dd.c): the knob, else the config default.</summary>
    public int DeferredProbeTimeoutSeconds => DeferredProbeTimeout ?? (Modules ? 10 : 0);

    /// <summary>PAGE_SIZE of the kernel (Asahi kernels use 16K).</summary>
    public int PageSize { get; init; } = 16384;
}

/// <summary>
/// Everything the kernel will see, built once per firmware + knobs and shared by every execution: devices in
/// bus order, IOMMU instances, knobs. Immutable.
/// </summary>
public sealed class Platform
{
    public Platform(string source, IReadOnlyList<PlatformDevice> devices, IReadOnlyList<IommuInstanceInfo> instances, PlatformKnobs knobs, IReadOnlyList<string>? notes = null)
    {
        Notes = notes ?? [];
        Source = source;
        Devices = devices;
        Instances = instances;
        Knobs = knobs;
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var d in devices)
        {
            ids.TryAdd(d.DriverName, d.Index);
        }

        _driverIds = ids;
    }

    private readonly Dictionary<string, int> _driverIds;

    public string Source { get; }

    /// <summary>A stable id of a driver (its first device's index), naming its module in scheduling points.</summary>
    public int DriverId(string driverName) => _driverIds.GetValueOrDefault(driverName, -1);

    public IReadOnlyList<PlatformDevice> Devices { get; }

    public IReadOnlyList<IommuInstanceInfo> Instances { get; }

    public PlatformKnobs Knobs { get; }

    /// <summary>Each device's <c>dma-ranges</c> windows (for dma-direct and the bus DMA limit).</summary>
    public DmaFirmware Dma { get; init; } = DmaFirmware.None;

    /// <summary>How the platform was derived where a rule was chosen (e.g. which PCI enumeration rule was used).</summary>
    public IReadOnlyList<string> Notes { get; }

    /// <summary>A device by DTS label, node name, or DT path.</summary>
    public PlatformDevice? Resolve(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return Devices.FirstOrDefault(d => d.Path == name)
            ?? Devices.FirstOrDefault(d => d.Labels.Contains(name, StringComparer.Ordinal))
            ?? Devices.SingleOrDefaultSafe(d => d.Name == name || d.Path.EndsWith("/" + name, StringComparison.Ordinal));
    }
}

internal static class EnumerableExtensions
{
    public static T? SingleOrDefaultSafe<T>(this IEnumerable<T> items, Func<T, bool> predicate)
        where T : class
    {
        T? found = null;
        foreach (var i in items)
        {
            if (predicate(i))
            {
                if (found is not null)
                {
                    return null;
                }

                found = i;
            }
        }

        return found;
    }
}
