using IommuLab.Model.PageTables;

namespace IommuLab.Model.Hardware;

/// <summary>
/// An arm-smmu (SMMUv1/v2, MMU-500): stream match registers (SMR: valid, mask, id) route an incoming stream ID
/// to a stream-to-context register (S2CR: translate to a context bank, bypass, or fault); a context bank holds
/// TTBR0/TCR/TCR2 of a stage-1 table. Unmatched streams fault (sCR0.USFCFG, set while disable_bypass is on).
/// The driver side models arm_smmu_write_smr(), arm_smmu_write_s2cr() and arm_smmu_write_context_bank()
/// (drivers/iommu/arm/arm-smmu/arm-smmu.c).
/// </summary>
public sealed class ArmSmmuHardware : IommuHardware
{
    public const int NumSmrs = 128;
    public const int NumContextBanks = 64;

    private const uint SmrValid = 1U << 31;
    private const int SmrMaskShift = 16;
    private const uint S2crTypeTranslate = 0;
    private const uint S2crTypeBypass = 1;
    private const uint S2crTypeFault = 2;
    private const int S2crTypeShift = 16;

    /// <summary>TCR (AArch64 format): T0SZ 5:0, EPD0 bit 7, TG0 15:14; TCR2: PASize 2:0.</summary>
    private const uint TcrEpd0 = 1U << 7;
    private const uint TcrEpd1 = 1U << 23;

    private readonly uint[] _smr = new uint[NumSmrs];
    private readonly uint[] _s2cr = new uint[NumSmrs];
    private readonly ulong[] _cbTtbr0 = new ulong[NumContextBanks];
    private readonly uint[] _cbTcr = new uint[NumContextBanks];
    private readonly uint[] _cbTcr2 = new uint[NumContextBanks];
    private readonly Dictionary<int, int> _contextBankOfDomain = [];

    public ArmSmmuHardware()
    {
        // Reset: every S2CR faults until a master is attached (arm_smmu_device_reset() with disable_bypass).
        Array.Fill(_s2cr, S2crTypeFault << S2crTypeShift);
    }

    /// <summary>The SMR index matching (or, when free, now allocated for) this fwid; -1 when the SMRs are exhausted.</summary>
    private int SmrFor(uint fwid)
    {
        var id = fwid & 0xffff;
        var mask = (fwid >> 16) & 0x7fff;
        var value = SmrValid | (mask << SmrMaskShift) | id;
        var free = -1;
        for (var i = 0; i < NumSmrs; i++)
        {
            if (_smr[i] == value)
            {
                return i;
            }

            if (free < 0 && (_smr[i] & SmrValid) == 0)
            {
                free = i;
            }
        }

        if (free >= 0)
        {
            _smr[free] = value;
        }

        return free;
    }

    /// <summary>Routes a stream to translation through the domain's context bank, writing the bank on first use.</summary>
    public bool AttachTranslate(uint fwid, int domainId, IoPageTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        var r = table.LpaeRegisters ?? throw new InvalidOperationException("model bug: an arm-smmu stage-1 domain without LPAE registers");
        if (!_contextBankOfDomain.TryGetValue(domainId, out var cb))
        {
            cb = _contextBankOfDomain.Count;
            if (cb >= NumContextBanks)
            {
                return false;
            }

            _contextBankOfDomain.Add(domainId, cb);
            _cbTtbr0[cb] = r.Ttbr;
            _cbTcr[cb] = (uint)(r.Tsz & 0x3f) | ((uint)(r.Tg & 3) << 14) | TcrEpd1;
            _cbTcr2[cb] = (uint)(r.Ips & 7);
        }

        return Route(fwid, (S2crTypeTranslate << S2crTypeShift) | (uint)cb);
    }

    /// <summary>S2CR bypass for the identity domain.</summary>
    public bool AttachBypass(uint fwid) => Route(fwid, S2crTypeBypass << S2crTypeShift);

    /// <summary>S2CR fault for the blocked domain.</summary>
    public bool AttachFault(uint fwid) => Route(fwid, S2crTypeFault << S2crTypeShift);

    private bool Route(uint fwid, uint s2cr)
    {
        var i = SmrFor(fwid);
        if (i < 0)
        {
            return false;
        }

        _s2cr[i] = s2cr;
        return true;
    }

    public override HardwareAccess Access(PhysicalMemory memory, uint streamId, ulong address, DmaAccess access)
    {
        ArgumentNullException.ThrowIfNull(memory);
        var match = -1;
        for (var i = 0; i < NumSmrs; i++)
        {
            var smr = _smr[i];
            var mask = (smr >> SmrMaskShift) & 0x7fff;
            if ((smr & SmrValid) != 0 && ((streamId ^ (smr & 0xffff)) & ~mask & 0xffff) == 0)
            {
                match = i;
                break;
            }
        }

        if (match < 0)
        {
            return HardwareAccess.Disabled(address, "no SMR matches the stream (unidentified stream fault): translation never enabled");
        }

        var s2cr = _s2cr[match];
        switch ((s2cr >> S2crTypeShift) & 3)
        {
            case S2crTypeBypass:
                return HardwareAccess.Bypassed(address, $"S2CR {match} bypass");
            case S2crTypeFault:
                return HardwareAccess.Disabled(address, $"S2CR {match} faults");
        }

        var cb = (int)(s2cr & 0xff);
        var tcr = _cbTcr[cb];
        var config = new LpaeWalkerConfig(_cbTtbr0[cb], (int)(tcr & 0x3f), (int)((tcr >> 14) & 3), (int)(_cbTcr2[cb] & 7), (tcr & TcrEpd0) == 0);
        return HardwareAccess.Walked(address, HardwareWalker.Translate(memory, config, address, access), $"SMR {match} -> S2CR -> context bank {cb}");
    }

    public override string DescribeStream(uint streamId)
    {
        for (var i = 0; i < NumSmrs; i++)
        {
            var smr = _smr[i];
            var mask = (smr >> SmrMaskShift) & 0x7fff;
            if ((smr & SmrValid) != 0 && ((streamId ^ (smr & 0xffff)) & ~mask & 0xffff) == 0)
            {
                return $"SMR{i} 0x{smr:x8} S2CR{i} 0x{_s2cr[i]:x8}";
            }
        }

        return "no matching SMR";
    }
}
