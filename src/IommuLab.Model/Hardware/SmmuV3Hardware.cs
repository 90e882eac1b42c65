using IommuLab.Model.PageTables;

namespace IommuLab.Model.Hardware;

/// <summary>
/// An SMMUv3 with a linear stream table in simulated memory: one 64-byte STE per stream ID, and for stage-1
/// translation a context descriptor (CD) the STE points at. The driver side models arm_smmu_write_ste() with
/// the abort, bypass and S1-translate STEs of arm_smmu_make_abort_ste(), arm_smmu_make_bypass_ste() and
/// arm_smmu_make_cdtable_ste(), and arm_smmu_write_cd_entry() with the CD of arm_smmu_make_s1_cd()
/// (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c). The device side reads the STE and CD from memory as the SMMU does.
/// Two-level stream tables are not modelled.
/// </summary>
public sealed class SmmuV3Hardware : IommuHardware
{
    public const ulong SteSize = 64;
    public const ulong CdSize = 64;

    private const ulong SteValid = 1UL << 0;
    private const int SteConfigShift = 1;
    private const ulong SteConfigMask = 0x7;
    private const ulong SteConfigAbort = 0b000;
    private const ulong SteConfigBypass = 0b100;
    private const ulong SteConfigS1Translate = 0b101;
    private const ulong SteS1ContextPtrMask = 0x000F_FFFF_FFFF_FFC0UL; // bits 51:6

    private const ulong CdValid = 1UL << 31;
    private const ulong CdEpd0 = 1UL << 14;
    private const ulong CdEpd1 = 1UL << 30;
    private const ulong CdAa64 = 1UL << 41;
    private const ulong CdR = 1UL << 45;
    private const ulong CdA = 1UL << 46;
    private const ulong CdTtb0Mask = 0x000F_FFFF_FFFF_FFF0UL; // bits 51:4

    private readonly PhysicalMemory _memory;
    private readonly Dictionary<uint, ulong> _cds = [];
    private readonly TablePageAllocator _allocator;

    /// <summary>Allocates and zeroes the stream table (every STE invalid) as arm_smmu_init_strtab_linear() does.</summary>
    public SmmuV3Hardware(TablePageAllocator allocator, int numStreams)
    {
        ArgumentNullException.ThrowIfNull(allocator);
        _allocator = allocator;
        _memory = allocator.Memory;
        NumStreams = numStreams;
        var size = Math.Max(PhysicalMemory.BackingPageSize, System.Numerics.BitOperations.RoundUpToPowerOf2(checked((ulong)numStreams * SteSize)));
        if (!allocator.TryAllocate(size, out var strtab))
        {
            throw new InvalidOperationException("model bug: no memory for the SMMUv3 stream table");
        }

        StrtabBase = strtab;
    }

    public int NumStreams { get; }

    /// <summary>STRTAB_BASE: physical address of STE 0.</summary>
    public ulong StrtabBase { get; }

    private ulong SteAddress(uint sid) => StrtabBase + sid * SteSize;

    /// <summary>Word 0 of a stream's STE.</summary>
    public ulong SteWord0(uint sid) => _memory.ReadU64(SteAddress(sid));

    /// <summary>An abort STE: valid, config 0b000 (the blocked domain, and released masters with disable_bypass).</summary>
    public void WriteAbortSte(uint sid) => WriteSte(sid, SteValid | (SteConfigAbort << SteConfigShift));

    /// <summary>A bypass STE: valid, config 0b100 (the identity domain).</summary>
    public void WriteBypassSte(uint sid) => WriteSte(sid, SteValid | (SteConfigBypass << SteConfigShift));

    /// <summary>
    /// Writes the master's CD for <paramref name="table"/> (TTB0, T0SZ, TG0, IPS, walk attributes, EPD1, ASID) and an
    /// S1-translate STE pointing at it. The CD table (one entry, SSID 0) is allocated on the master's first attach.
    /// </summary>
    public void WriteTranslateSte(uint sid, IoPageTable table, ushort asid)
    {
        ArgumentNullException.ThrowIfNull(table);
        var r = table.LpaeRegisters ?? throw new InvalidOperationException("model bug: an SMMUv3 stage-1 domain without LPAE registers");
        if (!_cds.TryGetValue(sid, out var cd))
        {
            if (!_allocator.TryAllocate(PhysicalMemory.BackingPageSize, out cd))
            {
                throw new InvalidOperationException("model bug: no memory for a CD table");
            }

            _cds.Add(sid, cd);
        }

        var word0 = (uint)(r.Tsz & 0x3f)
            | ((ulong)(uint)(r.Tg & 3) << 6)
            | ((ulong)(uint)(r.Irgn & 3) << 8)
            | ((ulong)(uint)(r.Orgn & 3) << 10)
            | ((ulong)(uint)(r.Sh & 3) << 12)
            | CdEpd1 | CdValid
            | ((ulong)(uint)(r.Ips & 7) << 32)
            | CdAa64 | CdR | CdA
            | ((ulong)asid << 48);
        _memory.WriteU64(cd, word0);
        _memory.WriteU64(cd + 8, r.Ttbr & CdTtb0Mask);
        _memory.WriteU64(cd + 24, r.Mair);
        WriteSte(sid, SteValid | (SteConfigS1Translate << SteConfigShift) | (cd & SteS1ContextPtrMask));
    }

    private void WriteSte(uint sid, ulong word0)
    {
        var ste = SteAddress(sid);
        for (ulong w = 1; w < SteSize / 8; w++)
        {
            _memory.WriteU64(ste + w * 8, 0);
        }

        _memory.WriteU64(ste, word0);
    }

    public override HardwareAccess Access(PhysicalMemory memory, uint streamId, ulong address, DmaAccess access)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (streamId >= (uint)NumStreams)
        {
            return HardwareAccess.Disabled(address, $"StreamID {streamId} out of range (C_BAD_STREAMID)");
        }

        if (!memory.TryReadU64(SteAddress(streamId), out var ste) || (ste & SteValid) == 0)
        {
            return HardwareAccess.Disabled(address, "STE invalid (C_BAD_STE): translation never enabled");
        }

        switch ((ste >> SteConfigShift) & SteConfigMask)
        {
            case SteConfigBypass:
                return HardwareAccess.Bypassed(address, "STE bypass");
            case SteConfigS1Translate:
                break;
            case SteConfigAbort:
                return HardwareAccess.Disabled(address, "STE aborts");
            default:
                return HardwareAccess.Disabled(address, "STE config not modelled (C_BAD_STE)");
        }

        var cdAddress = ste & SteS1ContextPtrMask;
        if (!memory.TryReadU64(cdAddress, out var cd0) || !memory.TryReadU64(cdAddress + 8, out var cd1))
        {
            return HardwareAccess.Walked(address, WalkResult.Faulted(WalkFaultKind.WalkExternalAbort, 0, IoPgtableFormat.ArmLpaeS1), "CD fetch outside memory (F_CD_FETCH)");
        }

        if ((cd0 & CdValid) == 0)
        {
            return HardwareAccess.Walked(address, WalkResult.Faulted(WalkFaultKind.BadTtbr, 0, IoPgtableFormat.ArmLpaeS1), "CD invalid (C_BAD_CD)");
        }

        var config = new LpaeWalkerConfig(cd1 & CdTtb0Mask, (int)(cd0 & 0x3f), (int)((cd0 >> 6) & 3), (int)((cd0 >> 32) & 7), (cd0 & CdEpd0) == 0);
        return HardwareAccess.Walked(address, HardwareWalker.Translate(memory, config, address, access), "STE -> CD -> TTB0");
    }

    public override string DescribeStream(uint streamId) =>
        streamId >= (uint)NumStreams ? "no such stream" : $"STE[0] 0x{SteWord0(streamId):x16}";
}
