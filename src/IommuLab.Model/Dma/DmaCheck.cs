using IommuLab.Model.Hardware;
using IommuLab.Model.Kernel;
using IommuLab.Model.PageTables;

namespace IommuLab.Model.Dma;

/// <summary>What one device access through one IOMMU reference did.</summary>
public enum DmaOutcomeKind
{
    /// <summary>Translated (or, without an IOMMU, direct) to the buffer, and the pattern came back.</summary>
    Reached,

    /// <summary>The stream bypasses translation and the bus address is the buffer's physical address.</summary>
    Bypassed,

    /// <summary>The IOMMU refused the access (stream disabled) or the walk faulted.</summary>
    Fault,

    /// <summary>The access landed in memory, but not in the buffer (a bus address used as the wrong kind of address).</summary>
    WrongBuffer,

    /// <summary><c>dma_map_single()</c> returned DMA_MAPPING_ERROR: no access was issued.</summary>
    MappingFailed,
}

/// <summary>The result of one DMA of a known pattern through one firmware reference (instance, stream) of a device.</summary>
public sealed record DmaPathResult(
    string Device,
    string DevicePath,
    string? Iommu,
    uint? Stream,
    DmaMode Mode,
    DmaOutcomeKind Kind,
    ulong BusAddress,
    ulong BufferAddress,
    ulong? PhysicalAddress,
    WalkFaultKind Fault,
    int Level,
    string Detail,
    string Registers)
{
    /// <summary>The buffer was reached (translated, bypassed onto it, or direct without an IOMMU).</summary>
    public bool Ok => Kind is DmaOutcomeKind.Reached or DmaOutcomeKind.Bypassed;

    private string Through => Iommu is null ? "direct DMA (no IOMMU)" : $"DMA through {Iommu} sid {Stream}";

    private string Ops => Mode == DmaMode.IommuDma ? "iommu-dma" : "direct";

    /// <summary>One line in kernel vocabulary, e.g. "display: DMA through dispext0_dart sid 0 faults: stream disabled (translation never enabled)".</summary>
    public string Describe() => Kind switch
    {
        DmaOutcomeKind.Reached => $"{Device}: {Through} reached the buffer ({Ops}, bus 0x{BusAddress:x} -> 0x{PhysicalAddress:x})",
        DmaOutcomeKind.Bypassed => $"{Device}: {Through} bypassed translation and reached the buffer ({Ops}, bus 0x{BusAddress:x} used as physical)",
        DmaOutcomeKind.Fault => $"{Device}: {Through} faults: {FaultText}",
        DmaOutcomeKind.WrongBuffer => $"{Device}: {Through} reached 0x{PhysicalAddress:x} instead of the buffer at 0x{BufferAddress:x} ({Ops}, bus 0x{BusAddress:x}; {Detail})",
        _ => $"{Device}: dma_map_single() failed ({Ops}): {Detail}",
    };

    private string FaultText => Fault == WalkFaultKind.StreamDisabled
        ? $"stream disabled ({Detail})"
        : $"{FaultName(Fault)} at IOVA 0x{BusAddress:x}, level {Level} ({Detail})";

    private static string FaultName(WalkFaultKind fault) => fault switch
    {
        WalkFaultKind.Translation => "translation fault",
        WalkFaultKind.Permission => "permission fault",
        WalkFaultKind.AccessFlag => "access flag fault",
        WalkFaultKind.AddressSize => "address size fault",
        WalkFaultKind.BadTtbr => "no valid TTBR",
        WalkFaultKind.WalkExternalAbort => "table walk outside memory",
        WalkFaultKind.OutputOutsideMemory => "access outside memory",
        _ => fault.ToString(),
    };

    public override string ToString() => Describe();
}

/// <summary>
/// The end-to-end check after quiescence: every bound consumer maps a buffer holding a known pattern with the
/// DMA ops it was bound with, then issues a device read of it through every IOMMU reference of F(D) (for a
/// ganged device, through each DART stream); each access goes through that instance's register model and the
/// bytes it reads are compared with the pattern. A consumer with no IOMMU reference in F(D) does one direct DMA.
/// Memory and mappings are restored afterwards, so the check can run again on the same state.
/// </summary>
public static class DmaCheck
{
    public const int PatternLength = 64;

    /// <summary>Every bound consumer, in device order.</summary>
    public static IReadOnlyList<DmaPathResult> Run(Kernel.Kernel k)
    {
        ArgumentNullException.ThrowIfNull(k);
        var results = new List<DmaPathResult>();
        foreach (var d in OutcomeBuilder.Consumers(k).Where(d => d.State == DriverState.Bound))
        {
            results.AddRange(RunDevice(k, d));
        }

        return results;
    }

    /// <summary>One device's DMAs, one result per reference of F(D) with an IOMMU instance (or one direct DMA).</summary>
    public static IReadOnlyList<DmaPathResult> RunDevice(Kernel.Kernel k, Device dev)
    {
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(dev);
        var memory = k.Dma.Memory;
        var buffer = DmaSystem.BufferOf(dev);
        var pattern = DmaSystem.Pattern(dev, PatternLength);
        memory.TryWrite(buffer, pattern.AsSpan());
        var mode = dev.Dma == DmaMode.IommuDma ? DmaMode.IommuDma : DmaMode.Direct;
        var mapping = DmaApi.MapSingle(k, dev, buffer, PatternLength, DmaDirection.ToDevice);
        var refs = OutcomeBuilder.FirmwareRefs(dev.Info).Where(r => r.Instance is not null).ToList();
        var results = new List<DmaPathResult>();
        if (refs.Count == 0)
        {
            // Without an IOMMU the interconnect applies the dma-ranges windows back to CPU addresses.
            var cpu = DmaFirmware.DmaToPhys(k.Platform.Dma.WindowsOf(dev.Info), mapping.DmaAddress);
            results.Add(mapping.Failed ? Failed(dev, null, null, mode, buffer, mapping.Error!)
                : cpu is null ? new DmaPathResult(dev.Name, dev.Info.Path, null, null, mode, DmaOutcomeKind.Fault, mapping.DmaAddress, mapping.Target, null, WalkFaultKind.OutputOutsideMemory, 0, "bus address outside every dma-ranges window", "")
                : Compare(dev, null, null, mode, mapping.Target, pattern, memory, HardwareAccess.Bypassed(cpu.Value, mapping.Bounce is null ? "no IOMMU" : "no IOMMU, bounced through swiotlb"), "", direct: true) with { BusAddress = mapping.DmaAddress });
        }

        foreach (var r in refs)
        {
            var inst = k.Instances[r.Instance!.Value];
            var hw = k.Dma.HardwareOf(inst);

            // The device emits the StreamID only; an arm-smmu firmware cell may also carry the SMR mask above bit 16.
            var sid = r.Args.Length == 0 ? 0 : hw is ArmSmmuHardware ? r.Args[0] & 0xffff : r.Args[0];
            if (mapping.Failed)
            {
                results.Add(Failed(dev, inst.Name, sid, mode, buffer, mapping.Error!));
                continue;
            }

            var access = hw.Access(memory, sid, mapping.DmaAddress, DmaAccess.Read);
            // The register dump is for a reader (run, replay); a scan's quiet kernel reads only the verdict.
            var registers = k.KeepsLogText ? hw.DescribeStream(sid) : "";
            results.Add(Compare(dev, inst.Name, sid, mode, mapping.Target, pattern, memory, access, registers, direct: false));
        }

        DmaApi.UnmapSingle(k, mapping);
        memory.Clear(buffer & ~(PhysicalMemory.BackingPageSize - 1), PhysicalMemory.BackingPageSize);
        return results;
    }

    private static DmaPathResult Compare(Device dev, string? iommu, uint? sid, DmaMode mode, ulong buffer, System.Collections.Immutable.ImmutableArray<byte> pattern,
        PhysicalMemory memory, HardwareAccess access, string registers, bool direct)
    {
        var pa = access.PhysicalAddress;
        if (pa is not { } target)
        {
            var detail = access.Detail;
            if (access.Mode == StreamTranslation.Translate && mode == DmaMode.Direct)
            {
                detail += "; the device issues physical addresses (direct DMA) but the stream translates";
            }

            return new DmaPathResult(dev.Name, dev.Info.Path, iommu, sid, mode, DmaOutcomeKind.Fault, access.BusAddress, buffer, null, access.Fault, access.Walk.Level, detail, registers);
        }

        Span<byte> read = stackalloc byte[PatternLength];
        var inMemory = memory.TryRead(target, read);
        var reached = inMemory && target == buffer && read.SequenceEqual(pattern.AsSpan());
        if (!inMemory)
        {
            return new DmaPathResult(dev.Name, dev.Info.Path, iommu, sid, mode, DmaOutcomeKind.Fault, access.BusAddress, buffer, target, WalkFaultKind.OutputOutsideMemory, 0, access.Detail, registers);
        }

        var kind = !reached ? DmaOutcomeKind.WrongBuffer
            : access.Mode == StreamTranslation.Bypass && !direct ? DmaOutcomeKind.Bypassed
            : DmaOutcomeKind.Reached;
        var why = access.Mode == StreamTranslation.Bypass
            ? mode == DmaMode.IommuDma ? "the stream bypasses translation but the device issues an IOVA" : access.Detail
            : mode == DmaMode.Direct ? "the device issues physical addresses (direct DMA) but the stream translates" : access.Detail;
        return new DmaPathResult(dev.Name, dev.Info.Path, iommu, sid, mode, kind, access.BusAddress, buffer, target, WalkFaultKind.None, access.Walk.Level, reached ? access.Detail : why, registers);
    }

    private static DmaPathResult Failed(Device dev, string? iommu, uint? sid, DmaMode mode, ulong buffer, string why) =>
        new(dev.Name, dev.Info.Path, iommu, sid, mode, DmaOutcomeKind.MappingFailed, 0, buffer, null, WalkFaultKind.None, 0, why, "");
}
