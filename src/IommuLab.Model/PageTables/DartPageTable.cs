using System.Collections.Immutable;

namespace IommuLab.Model.PageTables;

/// <summary>
/// The Apple DART page-table formats, APPLE_DART (DART1, t8020) and APPLE_DART2 (t6000, t8110), over simulated
/// memory. Models drivers/iommu/io-pgtable-dart.c.
/// </summary>
/// <remarks>
/// Levels are numbered as the kernel's v6.18 code does: the leaf table is level 1, each table above it one more,
/// and the TTBR choice is level <see cref="Levels"/>. With 4 KiB pages and ias 32 that is three levels: TTBR
/// (bits 31:30), L1 (29:21), L2 (20:12).
/// </remarks>
public sealed class DartPageTable : IIoPgtableOps
{
    public const int MaxTtbrs = 4;

    /// <summary>Bit 0 of every DART PTE, table or leaf.</summary>
    public const ulong PteValid = 1UL << 0;
    public const ulong Dart1NoRead = 1UL << 8;
    public const ulong Dart1NoWrite = 1UL << 7;
    public const ulong Dart1SubpageDisable = 1UL << 1;
    public const ulong Dart2NoRead = 1UL << 3;
    public const ulong Dart2NoWrite = 1UL << 2;
    public const ulong Dart2NoCache = 1UL << 1;
    public const ulong Dart1PaddrMask = 0x0000_000F_FFFF_F000UL; // bits 35:12
    public const ulong Dart2PaddrMask = 0x0000_003F_FFFF_FC00UL; // bits 37:10
    public const int Dart2PaddrShift = 4;
    public const int SubpageStartShift = 52; // bits 63:52
    public const int SubpageEndShift = 40;   // bits 51:40
    public const ulong SubpageFieldMask = 0xFFF;

    private readonly PhysicalMemory _memory;
    private readonly TablePageAllocator _allocator;
    private readonly IoPgtableConfig _config;
    private readonly bool _dart2;
    private readonly ulong _pgsize;
    private readonly int _bitsPerLevel;
    private readonly ulong _indexMask;
    private readonly ulong _ptesPerTable;
    private readonly ulong[] _pgd;

    private DartPageTable(IoPgtableConfig config, TablePageAllocator allocator, int levels, int tblBits, ulong[] pgd)
    {
        _config = config;
        _allocator = allocator;
        _memory = allocator.Memory;
        _dart2 = config.Format == IoPgtableFormat.AppleDart2;
        _pgsize = config.PgsizeBitmap;
        _bitsPerLevel = PageShift(_pgsize) - 3;
        _indexMask = (1UL << _bitsPerLevel) - 1;
        _ptesPerTable = 1UL << _bitsPerLevel;
        Levels = levels;
        TableBits = tblBits;
        _pgd = pgd;
        Ttbrs = [.. pgd];
    }

    /// <summary>Levels including the TTBR level (<c>apple_dart_cfg.n_levels</c>): 3, or 4 with three table levels.</summary>
    public int Levels { get; }

    /// <summary>log2 of the number of TTBRs.</summary>
    public int TableBits { get; }

    /// <summary>Physical addresses of the top-level tables, one per TTBR (<c>apple_dart_cfg.ttbr[0..n_ttbrs)</c>).</summary>
    public ImmutableArray<ulong> Ttbrs { get; }

    /// <summary>Bytes in one table (the page size).</summary>
    public ulong TableSize => _pgsize;

    /// <summary>
    /// Checks the config and allocates the top-level tables. Models apple_dart_alloc_pgtable() and
    /// dart_alloc_pgtable() (drivers/iommu/io-pgtable-dart.c); null, with the reason, where the kernel returns NULL.
    /// </summary>
    public static DartPageTable? Create(IoPgtableConfig config, TablePageAllocator allocator, out string? rejection)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(allocator);
        if (config.Format is not (IoPgtableFormat.AppleDart or IoPgtableFormat.AppleDart2))
        {
            rejection = $"{config.Format} is not a DART format";
            return null;
        }

        if (!config.CoherentWalk)
        {
            rejection = "DART tables need a coherent walk";
            return null;
        }

        if (config.Oas is not (36 or 42))
        {
            rejection = $"oas {config.Oas} is neither 36 nor 42";
            return null;
        }

        if (config.Ias > config.Oas || config.Ias < 1)
        {
            rejection = $"ias {config.Ias} is not in 1..oas ({config.Oas})";
            return null;
        }

        if (config.PgsizeBitmap is not (4096 or 16384))
        {
            rejection = $"page size bitmap 0x{config.PgsizeBitmap:x} is neither 4K nor 16K";
            return null;
        }

        var pgShift = PageShift(config.PgsizeBitmap);
        var bitsPerLevel = pgShift - 3;
        var vaBits = config.Ias - pgShift;
        int tableLevels, tblBits;
        if (config.DartVariableLevels)
        {
            // Newer DARTs (16K pages) have a single TTBR, so extra VA bits need another table level instead.
            var maxTblBits = config.PgsizeBitmap == 4096 ? 2 : 0;
            tableLevels = Math.Max(2, (vaBits - maxTblBits + bitsPerLevel - 1) / bitsPerLevel);
            if (tableLevels > 3)
            {
                rejection = $"ias {config.Ias} needs {tableLevels} table levels; at most 3";
                return null;
            }

            tblBits = Math.Max(0, vaBits - bitsPerLevel * tableLevels);
            if (tblBits > maxTblBits)
            {
                rejection = $"ias {config.Ias} needs {1 << tblBits} TTBRs; at most {1 << maxTblBits}";
                return null;
            }
        }
        else
        {
            tableLevels = 2;
            tblBits = Math.Max(0, vaBits - bitsPerLevel * tableLevels);
            if (tblBits > 2)
            {
                rejection = $"ias {config.Ias} needs {1L << tblBits} TTBRs with two levels; at most {MaxTtbrs}";
                return null;
            }
        }

        var pgd = new ulong[1 << tblBits];
        if (!config.DartLockedTables.IsDefaultOrEmpty)
        {
            // The bootloader's tables: the driver read them back from the TTBRs, nothing is allocated.
            if (config.DartLockedTables.Length != pgd.Length
                || config.DartLockedTables.Any(t => (t & (config.PgsizeBitmap - 1)) != 0 || !allocator.Memory.Contains(t, config.PgsizeBitmap)))
            {
                rejection = $"the locked TTBRs do not hold {pgd.Length} aligned table(s) in memory";
                return null;
            }

            config.DartLockedTables.CopyTo(pgd);
            rejection = null;
            return new DartPageTable(config, allocator, tableLevels + 1, tblBits, pgd);
        }

        for (var i = 0; i < pgd.Length; i++)
        {
            if (!allocator.TryAllocate(config.PgsizeBitmap, out pgd[i]))
            {
                for (var j = 0; j < i; j++)
                {
                    allocator.Free(pgd[j], config.PgsizeBitmap);
                }

                rejection = "no memory for the top-level tables";
                return null;
            }
        }

        rejection = null;
        return new DartPageTable(config, allocator, tableLevels + 1, tblBits, pgd);
    }

    /// <summary>The PTE bits (other than address and VALID) a leaf gets for <paramref name="prot"/>. Models dart_prot_to_pte().</summary>
    public ulong ProtToPte(IommuProt prot)
    {
        ulong pte = 0;
        if (!_dart2)
        {
            if (_config.DartSubpageDisableOnlyDart1)
            {
                pte |= Dart1SubpageDisable;
            }

            if ((prot & IommuProt.Write) == 0)
            {
                pte |= Dart1NoWrite;
            }

            if ((prot & IommuProt.Read) == 0)
            {
                pte |= Dart1NoRead;
            }
        }
        else
        {
            if ((prot & IommuProt.Write) == 0)
            {
                pte |= Dart2NoWrite;
            }

            if ((prot & IommuProt.Read) == 0)
            {
                pte |= Dart2NoRead;
            }

            if ((prot & IommuProt.Cache) == 0)
            {
                pte |= Dart2NoCache;
            }
        }

        return pte;
    }

    /// <summary>Encodes a physical address into PTE address bits. Models paddr_to_iopte().</summary>
    public ulong PaddrToPte(ulong paddr) => _dart2 ? (paddr >> Dart2PaddrShift) & Dart2PaddrMask : paddr & Dart1PaddrMask;

    /// <summary>Decodes the physical address from a PTE. Models iopte_to_paddr().</summary>
    public ulong PteToPaddr(ulong pte) => _dart2 ? (pte & Dart2PaddrMask) << Dart2PaddrShift : pte & Dart1PaddrMask;

    /// <summary>Models dart_map_pages() (drivers/iommu/io-pgtable-dart.c).</summary>
    public IoPgtableStatus MapPages(ulong iova, ulong paddr, ulong pgsize, ulong pgcount, IommuProt prot, out ulong mapped)
    {
        mapped = 0;
        if (pgsize != _pgsize)
        {
            return IoPgtableStatus.Invalid;
        }

        if ((paddr >> _config.Oas) != 0)
        {
            return IoPgtableStatus.OutOfRange;
        }

        if ((prot & (IommuProt.Read | IommuProt.Write)) == 0)
        {
            return IoPgtableStatus.Invalid;
        }

        if (!TryTopTable(iova, out var table))
        {
            return IoPgtableStatus.NoMemory; // v6.18 answers an IOVA above the last TTBR this way
        }

        for (var level = Levels - 1; level > 1; level--)
        {
            var ptep = table + Index(iova, level) * 8;
            var pte = _memory.ReadU64(ptep);
            if (pte == 0)
            {
                if (!_allocator.TryAllocate(_pgsize, out var next))
                {
                    return IoPgtableStatus.NoMemory;
                }

                pte = PaddrToPte(next) | PteValid;
                _memory.WriteU64(ptep, pte);
            }

            table = PteToPaddr(pte);
            if (!_memory.Contains(table, _pgsize))
            {
                return IoPgtableStatus.Invalid; // a corrupted table entry; the kernel would oops here
            }
        }

        var start = Index(iova, 1);
        var count = Math.Min(pgcount, _ptesPerTable - start);
        var status = InitPte(paddr, ProtToPte(prot), count, table + start * 8);
        if (status == IoPgtableStatus.Ok)
        {
            mapped = checked(count * pgsize);
        }

        return status;
    }

    /// <summary>Models dart_unmap_pages() (drivers/iommu/io-pgtable-dart.c).</summary>
    public ulong UnmapPages(ulong iova, ulong pgsize, ulong pgcount)
    {
        if (pgsize != _pgsize || pgcount == 0)
        {
            return 0;
        }

        if (!TryLastTable(iova, out var table))
        {
            return 0;
        }

        var start = Index(iova, 1);
        var count = Math.Min(pgcount, _ptesPerTable - start);
        ulong i = 0;
        for (; i < count; i++)
        {
            var ptep = table + (start + i) * 8;
            if (_memory.ReadU64(ptep) == 0)
            {
                break; // the kernel WARNs: unmapping a hole
            }

            _memory.WriteU64(ptep, 0);
        }

        return i * pgsize;
    }

    /// <summary>Models dart_iova_to_phys() (drivers/iommu/io-pgtable-dart.c).</summary>
    public ulong IovaToPhys(ulong iova)
    {
        if (!TryLastTable(iova, out var table))
        {
            return 0;
        }

        if (!_memory.TryReadU64(table + Index(iova, 1) * 8, out var pte) || pte == 0)
        {
            return 0;
        }

        return PteToPaddr(pte) | (iova & (_pgsize - 1));
    }

    /// <summary>Models apple_dart_free_pgtable() (drivers/iommu/io-pgtable-dart.c).</summary>
    public void Free()
    {
        foreach (var top in _pgd)
        {
            FreeTables(top, Levels - 1);
        }
    }

    private void FreeTables(ulong table, int level)
    {
        if (level > 1)
        {
            for (ulong i = 0; i < _ptesPerTable; i++)
            {
                var pte = _memory.ReadU64(table + i * 8);
                if (pte != 0)
                {
                    FreeTables(PteToPaddr(pte), level - 1);
                }
            }
        }

        // Tables the bootloader built under a locked TTBR are not ours to free.
        if (table >= _allocator.RegionStart && table < _allocator.RegionEnd)
        {
            _allocator.Free(table, _pgsize);
        }
    }

    /// <summary>Models dart_init_pte(): refuses any valid slot, then fills every slot.</summary>
    private IoPgtableStatus InitPte(ulong paddr, ulong prot, ulong count, ulong ptep)
    {
        for (ulong i = 0; i < count; i++)
        {
            if ((_memory.ReadU64(ptep + i * 8) & PteValid) != 0)
            {
                return IoPgtableStatus.Exists;
            }
        }

        // Subpage fields cover the whole page: first 0, last 0xfff.
        var pte = prot | (SubpageFieldMask << SubpageEndShift) | PteValid;
        if (!_config.DartSubpageDisableOnlyDart1)
        {
            pte |= Dart1SubpageDisable;
        }

        for (ulong i = 0; i < count; i++)
        {
            _memory.WriteU64(ptep + i * 8, pte | PaddrToPte(checked(paddr + i * _pgsize)));
        }

        return IoPgtableStatus.Ok;
    }

    /// <summary>The top-level table for an IOVA (TTBR choice).</summary>
    private bool TryTopTable(ulong iova, out ulong table)
    {
        var shift = Levels * _bitsPerLevel + 3;
        ulong index;
        if (_config.DartVariableLevels)
        {
            index = shift >= 64 ? 0 : (iova >> shift) & _indexMask;
            if (index >= (ulong)_pgd.Length)
            {
                table = 0;
                return false;
            }
        }
        else
        {
            // Older kernels mask the index to the TTBR count: higher bits alias.
            index = (iova >> shift) & ((1UL << TableBits) - 1);
        }

        table = _pgd[index];
        return true;
    }

    /// <summary>Walks table entries down to the leaf table. Models dart_get_last() / dart_get_l2().</summary>
    private bool TryLastTable(ulong iova, out ulong table)
    {
        if (!TryTopTable(iova, out table))
        {
            return false;
        }

        for (var level = Levels - 1; level > 1; level--)
        {
            if (!_memory.TryReadU64(table + Index(iova, level) * 8, out var pte) || pte == 0)
            {
                return false;
            }

            table = PteToPaddr(pte);
        }

        return _memory.Contains(table, _pgsize);
    }

    private ulong Index(ulong iova, int level) => (iova >> (level * _bitsPerLevel + 3)) & _indexMask;

    private static int PageShift(ulong pgsize) => System.Numerics.BitOperations.TrailingZeroCount(pgsize);
}
