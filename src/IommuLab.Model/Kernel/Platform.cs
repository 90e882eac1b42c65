using System.Collections.Immutable;
using IommuLab.Model.Dma;

namespace IommuLab.Model.Kernel;

/// <summary>How an IOMMU driver is available to the kernel (a platform knob).</summary>
public enum DriverAvailability
{
    BuiltIn,
    Module,
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
public sealed record FwRef(int Index, string TargetPath, int? Instance, bool TargetAvailable, ImmutableArray<uint> Args);

/// <summary>A consumer's <c>iommus</c> list: the references the kernel sees and how the parse loop ends.</summary>
public sealed record FwRefList(ImmutableArray<FwRef> Refs, Errno EndErrno, string? EndLog)
{
    public static FwRefList Empty { get; } = new([], Errno.ENOENT, null);

    public bool IsEmpty => Refs.IsEmpty;
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
    DartHardware? Dart);

/// <summary>
/// A device the kernel sees: a platform device of_platform_populate() creates, or a PCI function behind a host
/// bridge (<see cref="Rid"/> set; its <see cref="Iommus"/> come from the bridge's <c>iommu-map</c>, one entry per DMA
/// alias in <c>pci_for_each_dma_alias()</c> order).
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

    /// <summary>deferred_probe_timeout in seconds (0 disables the timeout).</summary>
    public int DeferredProbeTimeout { get; init; } = 10;

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
    }

    public string Source { get; }

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
