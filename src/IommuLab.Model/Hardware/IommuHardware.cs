using IommuLab.Model.PageTables;

namespace IommuLab.Model.Hardware;

/// <summary>What an IOMMU's stream state does with an incoming access, before any table walk.</summary>
public enum StreamTranslation
{
    /// <summary>The access is refused: TCR disabled, STE abort or invalid, S2CR fault, unmatched stream.</summary>
    Disabled,

    /// <summary>The bus address is the physical address.</summary>
    Bypass,

    /// <summary>The bus address is an IOVA, walked through the stream's tables.</summary>
    Translate,
}

/// <summary>
/// The hardware's answer to one device access on one stream: disabled (with why), bypassed (physical = bus
/// address) or translated by a table walk (a physical address or a fault with its kind and level).
/// </summary>
public readonly record struct HardwareAccess(StreamTranslation Mode, WalkResult Walk, ulong BusAddress, string Detail)
{
    /// <summary>Where the access lands in memory, or null when the IOMMU refused it.</summary>
    public ulong? PhysicalAddress => Mode switch
    {
        StreamTranslation.Bypass => BusAddress,
        StreamTranslation.Translate when Walk.Translated => Walk.PhysicalAddress,
        _ => null,
    };

    /// <summary>The fault kind, <see cref="WalkFaultKind.StreamDisabled"/> for a refused stream, None otherwise.</summary>
    public WalkFaultKind Fault => Mode switch
    {
        StreamTranslation.Disabled => WalkFaultKind.StreamDisabled,
        StreamTranslation.Translate => Walk.Fault,
        _ => WalkFaultKind.None,
    };

    public static HardwareAccess Disabled(ulong bus, string why) => new(StreamTranslation.Disabled, default, bus, why);

    public static HardwareAccess Bypassed(ulong bus, string why) => new(StreamTranslation.Bypass, default, bus, why);

    public static HardwareAccess Walked(ulong bus, WalkResult walk, string detail) => new(StreamTranslation.Translate, walk, bus, detail);
}

/// <summary>
/// The register-level model of one IOMMU instance: what the driver wrote (TCR/TTBR, STE/CD, SMR/S2CR) and how the
/// hardware uses it for a device access. Knows nothing of the kernel's bookkeeping (groups, domains, fwspecs).
/// </summary>
public abstract class IommuHardware
{
    /// <summary>Translates one access of <paramref name="streamId"/> at bus address <paramref name="address"/>.</summary>
    public abstract HardwareAccess Access(PhysicalMemory memory, uint streamId, ulong address, DmaAccess access);

    /// <summary>The registers of one stream as a register dump would print them.</summary>
    public abstract string DescribeStream(uint streamId);
}
