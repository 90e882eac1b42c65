using System.Numerics;

namespace IommuLab.Model.PageTables;

/// <summary>
/// Translates one device access the way IOMMU hardware does: starting from the stream's registers and reading the
/// PTE bits in simulated memory, with no knowledge of the kernel's bookkeeping. Any table contents give a result;
/// nothing here throws for malformed tables. Stateless.
/// </summary>
public static class HardwareWalker
{
    /// <summary>Translates <paramref name="iova"/> for a <paramref name="access"/> through the tables <paramref name="config"/> points at.</summary>
    public static WalkResult Translate(PhysicalMemory memory, WalkerConfig config, ulong iova, DmaAccess access)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(config);
        return config switch
        {
            DartWalkerConfig dart => TranslateDart(memory, dart, iova, access),
            LpaeWalkerConfig lpae => TranslateLpae(memory, lpae, iova, access),
            _ => throw new ArgumentException($"unknown walker config {config.GetType().Name}", nameof(config)),
        };
    }

    /// <summary>A DART walk: TTBR chosen by the bits above the tables, then each table level down to the leaf.</summary>
    private static WalkResult TranslateDart(PhysicalMemory memory, DartWalkerConfig config, ulong iova, DmaAccess access)
    {
        var format = config.Format;
        var dart2 = format == IoPgtableFormat.AppleDart2;
        if (config.PageSize is not (4096 or 16384) || config.Levels is not (3 or 4) || format == IoPgtableFormat.ArmLpaeS1)
        {
            throw new ArgumentException("model bug: DART walker config with an unsupported page size, level count or format");
        }

        var pgShift = BitOperations.TrailingZeroCount(config.PageSize);
        var bitsPerLevel = pgShift - 3;
        var indexMask = (1UL << bitsPerLevel) - 1;
        var ttbrShift = pgShift + bitsPerLevel * (config.Levels - 1);
        var ttbrIndex = ttbrShift >= 64 ? 0 : iova >> ttbrShift;
        if (ttbrIndex >= (ulong)config.TtbrRegisters.Length)
        {
            return WalkResult.Faulted(WalkFaultKind.BadTtbr, config.Levels, format);
        }

        var register = config.TtbrRegisters[(int)ttbrIndex];
        if (!config.Encoding.IsValid(register))
        {
            return WalkResult.Faulted(WalkFaultKind.BadTtbr, config.Levels, format);
        }

        var table = config.Encoding.Decode(register);
        for (var level = config.Levels - 1; level >= 1; level--)
        {
            var entry = table + ((iova >> (level * bitsPerLevel + 3)) & indexMask) * 8;
            if (!memory.TryReadU64(entry, out var pte))
            {
                return WalkResult.Faulted(WalkFaultKind.WalkExternalAbort, level, format);
            }

            if ((pte & DartPageTable.PteValid) == 0)
            {
                return WalkResult.Faulted(WalkFaultKind.Translation, level, format);
            }

            var address = dart2
                ? (pte & DartPageTable.Dart2PaddrMask) << DartPageTable.Dart2PaddrShift
                : pte & DartPageTable.Dart1PaddrMask;
            if (level > 1)
            {
                table = address;
                continue;
            }

            var (noRead, noWrite) = dart2
                ? (DartPageTable.Dart2NoRead, DartPageTable.Dart2NoWrite)
                : (DartPageTable.Dart1NoRead, DartPageTable.Dart1NoWrite);
            if ((access == DmaAccess.Read && (pte & noRead) != 0) || (access == DmaAccess.Write && (pte & noWrite) != 0))
            {
                return WalkResult.Faulted(WalkFaultKind.Permission, level, format);
            }

            // Subpage fields are not checked: the kernel always writes them to cover the whole page.
            var pa = address | (iova & (config.PageSize - 1));
            return memory.Contains(pa, 1)
                ? WalkResult.Success(pa, level, format)
                : WalkResult.Faulted(WalkFaultKind.OutputOutsideMemory, level, format);
        }

        throw new InvalidOperationException("unreachable: the leaf level always returns");
    }

    /// <summary>A VMSAv8-64 stage-1 walk from TTB0 with the context's T0SZ, TG0 and IPS.</summary>
    private static WalkResult TranslateLpae(PhysicalMemory memory, LpaeWalkerConfig config, ulong iova, DmaAccess access)
    {
        const IoPgtableFormat format = IoPgtableFormat.ArmLpaeS1;
        var pgShift = config.Tg switch { 0 => 12, 1 => 16, 2 => 14, _ => 0 };
        var ias = 64 - config.Tsz;
        var oas = config.Ips switch { 0 => 32, 1 => 36, 2 => 40, 3 => 42, 4 => 44, 5 => 48, _ => 0 };
        if (!config.WalksEnabled || pgShift == 0 || oas == 0 || ias > ArmLpaePageTable.MaxAddressBits || ias <= pgShift)
        {
            return WalkResult.Faulted(WalkFaultKind.BadTtbr, 0, format);
        }

        var granule = 1UL << pgShift;
        var bitsPerLevel = pgShift - 3;
        var vaBits = ias - pgShift;
        var levels = (vaBits + bitsPerLevel - 1) / bitsPerLevel;
        var startLevel = ArmLpaePageTable.MaxLevels - levels;
        var pgdBits = vaBits - bitsPerLevel * (levels - 1);
        if ((iova >> ias) != 0)
        {
            return WalkResult.Faulted(WalkFaultKind.Translation, startLevel, format);
        }

        if ((config.Ttbr >> oas) != 0)
        {
            return WalkResult.Faulted(WalkFaultKind.AddressSize, startLevel, format);
        }

        var table = config.Ttbr;
        if ((table & ((8UL << pgdBits) - 1)) != 0)
        {
            return WalkResult.Faulted(WalkFaultKind.BadTtbr, startLevel, format);
        }

        for (var level = startLevel; level < ArmLpaePageTable.MaxLevels; level++)
        {
            var shift = (ArmLpaePageTable.MaxLevels - level) * bitsPerLevel + 3;
            var bits = level == startLevel ? pgdBits : bitsPerLevel;
            var entry = table + ((iova >> shift) & ((1UL << bits) - 1)) * 8;
            if (!memory.TryReadU64(entry, out var pte))
            {
                return WalkResult.Faulted(WalkFaultKind.WalkExternalAbort, level, format);
            }

            var type = pte & ArmLpaePageTable.TypeMask;
            if ((pte & 1) == 0)
            {
                return WalkResult.Faulted(WalkFaultKind.Translation, level, format);
            }

            var last = level == ArmLpaePageTable.MaxLevels - 1;
            if (!last && type == ArmLpaePageTable.TypeTable)
            {
                table = ArmLpaePageTable.PteToPaddr(pte, granule) & ~(granule - 1);
                if ((table >> oas) != 0)
                {
                    return WalkResult.Faulted(WalkFaultKind.AddressSize, level, format);
                }

                continue;
            }

            // A leaf: a page at level 3, a block where this granule allows one; anything else is reserved.
            if ((last && type != ArmLpaePageTable.TypePage) || (!last && !BlockAllowed(pgShift, level)))
            {
                return WalkResult.Faulted(WalkFaultKind.Translation, level, format);
            }

            var size = 1UL << shift;
            var output = ArmLpaePageTable.PteToPaddr(pte, granule) & ~(size - 1);
            if ((output >> oas) != 0)
            {
                return WalkResult.Faulted(WalkFaultKind.AddressSize, level, format);
            }

            if ((pte & ArmLpaePageTable.AccessFlag) == 0)
            {
                return WalkResult.Faulted(WalkFaultKind.AccessFlag, level, format);
            }

            if (access == DmaAccess.Write && (pte & ArmLpaePageTable.ApReadOnly) != 0)
            {
                return WalkResult.Faulted(WalkFaultKind.Permission, level, format);
            }

            var pa = output | (iova & (size - 1));
            return memory.Contains(pa, 1)
                ? WalkResult.Success(pa, level, format)
                : WalkResult.Faulted(WalkFaultKind.OutputOutsideMemory, level, format);
        }

        throw new InvalidOperationException("unreachable: level 3 always returns");
    }

    /// <summary>Block descriptors without 52-bit addressing: 4K at levels 1 and 2, 16K and 64K at level 2.</summary>
    private static bool BlockAllowed(int pgShift, int level) => pgShift == 12 ? level is 1 or 2 : level == 2;
}
