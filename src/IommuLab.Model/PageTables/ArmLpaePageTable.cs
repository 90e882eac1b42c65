using System.Numerics;

namespace IommuLab.Model.PageTables;

/// <summary>
/// The VMSAv8-64 stage-1 long-descriptor format used by the SMMU family (ARM_64_LPAE_S1) with 4K, 16K and 64K
/// granules, over simulated memory. Models drivers/iommu/io-pgtable-arm.c. Levels are the architecture's: the leaf
/// level is 3 and the walk starts at <see cref="StartLevel"/> (0 for 4K pages and ias 48).
/// </summary>
public sealed class ArmLpaePageTable : IIoPgtableOps
{
    public const int MaxLevels = 4;
    public const int MaxAddressBits = 48;

    public const ulong TypeMask = 0x3;
    public const ulong TypeBlock = 1;
    public const ulong TypeTable = 3;
    public const ulong TypePage = 3;
    public const ulong AddressMask = 0x0000_FFFF_FFFF_F000UL; // bits 47:12
    public const ulong Xn = 3UL << 53;
    public const ulong Dbm = 1UL << 51;
    public const ulong AccessFlag = 1UL << 10;
    public const ulong NotGlobal = 1UL << 11;
    public const ulong ShareInner = 3UL << 8;
    public const ulong ShareOuter = 2UL << 8;
    public const ulong ApUnprivileged = 1UL << 6;
    public const ulong ApReadOnly = 1UL << 7;
    public const int AttrIndexShift = 2;
    public const ulong AttrIndexCache = 1;
    public const ulong AttrIndexDevice = 2;

    /// <summary>The attribute bits a block keeps when split into smaller entries (lower 11:2, upper XN and DBM).</summary>
    public const ulong AttributeMask = (0x3FFUL << 2) | Xn | Dbm;

    /// <summary>MAIR: index 0 non-cacheable, 1 write-back, 2 device, 3 inner non-cacheable outer write-back.</summary>
    public const ulong Mair = 0x44UL | (0xFFUL << 8) | (0x04UL << 16) | (0xF4UL << 24);

    private readonly PhysicalMemory _memory;
    private readonly TablePageAllocator _allocator;
    private readonly int _bitsPerLevel;
    private readonly int _pgdBits;
    private readonly ulong _ptesPerTable;
    private readonly ulong _pgdAllocSize;

    private ArmLpaePageTable(TablePageAllocator allocator, ulong pgsizeBitmap, int ias, int oas, int pgShift, ulong pgd,
        ulong pgdAllocSize, ArmLpaeS1Registers registers)
    {
        _allocator = allocator;
        _memory = allocator.Memory;
        PgsizeBitmap = pgsizeBitmap;
        Ias = ias;
        Oas = oas;
        Granule = 1UL << pgShift;
        _bitsPerLevel = pgShift - 3;
        _ptesPerTable = 1UL << _bitsPerLevel;
        var vaBits = ias - pgShift;
        var levels = (vaBits + _bitsPerLevel - 1) / _bitsPerLevel;
        StartLevel = MaxLevels - levels;
        _pgdBits = vaBits - _bitsPerLevel * (levels - 1);
        Pgd = pgd;
        _pgdAllocSize = pgdAllocSize;
        Registers = registers;
    }

    /// <summary>Page and block sizes after restriction to one granule (<c>cfg-&gt;pgsize_bitmap</c> on return).</summary>
    public ulong PgsizeBitmap { get; }

    public int Ias { get; }

    public int Oas { get; }

    /// <summary>The translation granule (smallest page size).</summary>
    public ulong Granule { get; }

    /// <summary>The architectural level the walk starts at.</summary>
    public int StartLevel { get; }

    /// <summary>Physical address of the start-level table (the TTBR value).</summary>
    public ulong Pgd { get; }

    /// <summary>Bytes the start-level table spans (<c>ARM_LPAE_PGD_SIZE</c>; may be less than a page).</summary>
    public ulong PgdSize => 8UL << _pgdBits;

    /// <summary>The register values a driver programs (TTBR, TCR fields, MAIR).</summary>
    public ArmLpaeS1Registers Registers { get; }

    /// <summary>The size one entry maps at <paramref name="level"/> (a block, or a page at level 3).</summary>
    public ulong BlockSize(int level) => 1UL << LevelShift(level);

    /// <summary>
    /// Restricts the page sizes to one granule, checks the sizes and allocates the start-level table. Models
    /// arm_64_lpae_alloc_pgtable_s1(), arm_lpae_alloc_pgtable() and arm_lpae_restrict_pgsizes()
    /// (drivers/iommu/io-pgtable-arm.c); null, with the reason, where the kernel returns NULL.
    /// </summary>
    public static ArmLpaePageTable? Create(IoPgtableConfig config, TablePageAllocator allocator, out string? rejection)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(allocator);
        if (config.Format != IoPgtableFormat.ArmLpaeS1)
        {
            rejection = $"{config.Format} is not an LPAE format";
            return null;
        }

        var bitmap = RestrictPageSizes(config.PgsizeBitmap, config.CpuPageSize);
        var ias = Math.Min(config.Ias, MaxAddressBits);
        var oas = Math.Min(config.Oas, MaxAddressBits);
        if ((bitmap & (4096UL | 16384UL | 65536UL)) == 0)
        {
            rejection = $"page size bitmap 0x{config.PgsizeBitmap:x} has no 4K, 16K or 64K granule";
            return null;
        }

        var pgShift = BitOperations.TrailingZeroCount(bitmap);
        if (ias <= pgShift)
        {
            rejection = $"ias {ias} leaves no bits to translate with a {1UL << pgShift}-byte granule";
            return null;
        }

        var ips = oas switch { 32 => 0, 36 => 1, 40 => 2, 42 => 3, 44 => 4, 48 => 5, _ => -1 };
        if (ips < 0)
        {
            rejection = $"oas {oas} has no TCR.IPS encoding";
            return null;
        }

        var tg = pgShift switch { 12 => 0, 16 => 1, _ => 2 };
        var bitsPerLevel = pgShift - 3;
        var vaBits = ias - pgShift;
        var levels = (vaBits + bitsPerLevel - 1) / bitsPerLevel;
        var pgdBits = vaBits - bitsPerLevel * (levels - 1);
        var pgdAlloc = Math.Max(8UL << pgdBits, PhysicalMemory.BackingPageSize); // a whole page, as get_order() rounds
        if (!allocator.TryAllocate(pgdAlloc, out var pgd))
        {
            rejection = "no memory for the start-level table";
            return null;
        }

        var (sh, rgn) = config.CoherentWalk ? (3, 1) : (2, 0);
        var registers = new ArmLpaeS1Registers(pgd, 64 - ias, tg, ips, sh, rgn, rgn, Mair);
        rejection = null;
        return new ArmLpaePageTable(allocator, bitmap, ias, oas, pgShift, pgd, pgdAlloc, registers);
    }

    /// <summary>Picks the granule nearest the CPU page size and keeps only its block sizes. Models arm_lpae_restrict_pgsizes().</summary>
    public static ulong RestrictPageSizes(ulong bitmap, ulong cpuPageSize)
    {
        var below = bitmap & (cpuPageSize - 1);
        var above = bitmap & ~(cpuPageSize - 1);
        ulong granule;
        if ((bitmap & cpuPageSize) != 0)
        {
            granule = cpuPageSize;
        }
        else if (below != 0)
        {
            granule = 1UL << (63 - BitOperations.LeadingZeroCount(below));
        }
        else if (above != 0)
        {
            granule = 1UL << BitOperations.TrailingZeroCount(above);
        }
        else
        {
            granule = 0;
        }

        var pageSizes = granule switch
        {
            4096 => 4096UL | (2UL << 20) | (1UL << 30),
            16384 => 16384UL | (32UL << 20),
            65536 => 65536UL | (512UL << 20),
            _ => 0UL,
        };
        return bitmap & pageSizes;
    }

    /// <summary>The attribute and permission bits of a leaf for <paramref name="prot"/>. Models arm_lpae_prot_to_pte() (stage 1).</summary>
    public static ulong ProtToPte(IommuProt prot)
    {
        var pte = NotGlobal;
        if ((prot & IommuProt.Write) == 0 && (prot & IommuProt.Read) != 0)
        {
            pte |= ApReadOnly;
        }

        if ((prot & IommuProt.Priv) == 0)
        {
            pte |= ApUnprivileged;
        }

        if ((prot & IommuProt.Mmio) != 0)
        {
            pte |= AttrIndexDevice << AttrIndexShift;
        }
        else if ((prot & IommuProt.Cache) != 0)
        {
            pte |= AttrIndexCache << AttrIndexShift;
        }

        pte |= (prot & IommuProt.Cache) != 0 ? ShareInner : ShareOuter;
        if ((prot & IommuProt.NoExec) != 0)
        {
            pte |= Xn;
        }

        return pte | AccessFlag;
    }

    /// <summary>Encodes an output address into descriptor bits (64K granules pack PA[51:48] into bits 15:12). Models paddr_to_iopte().</summary>
    public static ulong PaddrToPte(ulong paddr) => (paddr | (paddr >> 36)) & AddressMask;

    /// <summary>Decodes the output address of a descriptor. Models iopte_to_paddr().</summary>
    public ulong PteToPaddr(ulong pte) => PteToPaddr(pte, Granule);

    internal static ulong PteToPaddr(ulong pte, ulong granule)
    {
        var paddr = pte & AddressMask;
        return granule < 65536 ? paddr : (paddr | (paddr << 36)) & (AddressMask << 4);
    }

    /// <summary>Models arm_lpae_map_pages() and __arm_lpae_map() (drivers/iommu/io-pgtable-arm.c).</summary>
    public IoPgtableStatus MapPages(ulong iova, ulong paddr, ulong pgsize, ulong pgcount, IommuProt prot, out ulong mapped)
    {
        mapped = 0;
        if (pgsize == 0 || (pgsize & PgsizeBitmap) != pgsize)
        {
            return IoPgtableStatus.Invalid;
        }

        if ((iova >> Ias) != 0 || (paddr >> Oas) != 0)
        {
            return IoPgtableStatus.OutOfRange;
        }

        if ((prot & (IommuProt.Read | IommuProt.Write)) == 0)
        {
            return IoPgtableStatus.Invalid;
        }

        var protBits = ProtToPte(prot);
        var table = Pgd;
        for (var level = StartLevel; ; level++)
        {
            var index = Index(iova, level);
            if (pgsize == BlockSize(level))
            {
                var count = Math.Min(pgcount, MaxEntries(index));
                var status = InitPte(iova, paddr, protBits, level, count, table, index);
                if (status == IoPgtableStatus.Ok)
                {
                    mapped = checked(count * pgsize);
                }

                return status;
            }

            if (level >= MaxLevels - 1)
            {
                return IoPgtableStatus.Invalid; // no tables below the last level
            }

            var ptep = table + index * 8;
            var pte = _memory.ReadU64(ptep);
            if (pte == 0)
            {
                if (!_allocator.TryAllocate(Granule, out var next))
                {
                    return IoPgtableStatus.NoMemory;
                }

                pte = PaddrToPte(next) | TypeTable;
                _memory.WriteU64(ptep, pte);
            }

            if (IsLeaf(pte, level))
            {
                return IoPgtableStatus.Exists;
            }

            table = PteToPaddr(pte);
            if (!_memory.Contains(table, Granule))
            {
                return IoPgtableStatus.Invalid; // a corrupted table entry; the kernel would oops here
            }
        }
    }

    /// <summary>Models arm_lpae_unmap_pages() (drivers/iommu/io-pgtable-arm.c).</summary>
    public ulong UnmapPages(ulong iova, ulong pgsize, ulong pgcount)
    {
        if (pgsize == 0 || (pgsize & PgsizeBitmap) != pgsize || pgcount == 0 || (iova >> Ias) != 0)
        {
            return 0;
        }

        return Unmap(iova, pgsize, pgcount, StartLevel, Pgd);
    }

    /// <summary>Models arm_lpae_iova_to_phys() (drivers/iommu/io-pgtable-arm.c).</summary>
    public ulong IovaToPhys(ulong iova)
    {
        var table = Pgd;
        for (var level = StartLevel; level < MaxLevels; level++)
        {
            if (!_memory.TryReadU64(table + Index(iova, level) * 8, out var pte) || pte == 0)
            {
                return 0;
            }

            if (IsLeaf(pte, level))
            {
                return PteToPaddr(pte) | (iova & (BlockSize(level) - 1));
            }

            table = PteToPaddr(pte);
        }

        return 0;
    }

    /// <summary>Models arm_lpae_free_pgtable() (drivers/iommu/io-pgtable-arm.c).</summary>
    public void Free() => FreeTable(StartLevel, Pgd);

    /// <summary>Models __arm_lpae_unmap(): clears leaves, frees tables under them, splits a block in the way.</summary>
    private ulong Unmap(ulong iova, ulong size, ulong pgcount, int level, ulong table)
    {
        if (level == MaxLevels)
        {
            return 0;
        }

        var index = Index(iova, level);
        var ptep = table + index * 8;
        if (!_memory.TryReadU64(ptep, out var pte) || pte == 0)
        {
            return 0; // the kernel WARNs: nothing mapped here
        }

        if (size == BlockSize(level))
        {
            var count = Math.Min(pgcount, MaxEntries(index));
            ulong i = 0;
            for (; i < count; i++)
            {
                var entry = _memory.ReadU64(ptep + i * 8);
                if (entry == 0)
                {
                    break;
                }

                if (!IsLeaf(entry, level))
                {
                    _memory.WriteU64(ptep + i * 8, 0);
                    FreeTable(level + 1, PteToPaddr(entry));
                }
            }

            for (ulong j = 0; j < i; j++)
            {
                _memory.WriteU64(ptep + j * 8, 0);
            }

            return i * size;
        }

        if (IsLeaf(pte, level))
        {
            return SplitBlockUnmap(iova, size, pte, level + 1, ptep, pgcount);
        }

        var next = PteToPaddr(pte);
        return _memory.Contains(next, Granule) ? Unmap(iova, size, pgcount, level + 1, next) : 0;
    }

    /// <summary>
    /// Replaces a block by a table of smaller entries covering the same range minus the part being unmapped, then
    /// continues below if the unmap is smaller still. Models arm_lpae_split_blk_unmap().
    /// </summary>
    private ulong SplitBlockUnmap(ulong iova, ulong size, ulong blockPte, int level, ulong ptep, ulong pgcount)
    {
        if (level == MaxLevels || !_allocator.TryAllocate(Granule, out var table))
        {
            return 0; // bytes unmapped
        }

        var splitSize = BlockSize(level);
        ulong start = 0, count = 0;
        var unmapHere = size == splitSize;
        if (unmapHere)
        {
            start = Index(iova, level);
            count = Math.Min(pgcount, MaxEntries(start));
        }

        var paddr = PteToPaddr(blockPte);
        var attributes = (blockPte & AttributeMask) | (level == MaxLevels - 1 ? TypePage : TypeBlock);
        for (ulong i = 0; i < _ptesPerTable; i++)
        {
            if (unmapHere && i >= start && i < start + count)
            {
                continue;
            }

            _memory.WriteU64(table + i * 8, attributes | PaddrToPte(checked(paddr + i * splitSize)));
        }

        _memory.WriteU64(ptep, PaddrToPte(table) | TypeTable);
        return unmapHere ? count * size : Unmap(iova, size, pgcount, level, table);
    }

    /// <summary>Models arm_lpae_init_pte(): a leaf in the way is -EEXIST, a table in the way is freed first.</summary>
    private IoPgtableStatus InitPte(ulong iova, ulong paddr, ulong protBits, int level, ulong count, ulong table, ulong index)
    {
        var size = BlockSize(level);
        var ptep = table + index * 8;
        for (ulong i = 0; i < count; i++)
        {
            var entry = _memory.ReadU64(ptep + i * 8);
            if (IsLeaf(entry, level))
            {
                return IoPgtableStatus.Exists;
            }

            if ((entry & TypeMask) == TypeTable && Unmap(checked(iova + i * size), size, 1, level, table) != size)
            {
                return IoPgtableStatus.Invalid;
            }
        }

        var pte = protBits | (level == MaxLevels - 1 ? TypePage : TypeBlock);
        for (ulong i = 0; i < count; i++)
        {
            _memory.WriteU64(ptep + i * 8, pte | PaddrToPte(checked(paddr + i * size)));
        }

        return IoPgtableStatus.Ok;
    }

    /// <summary>Models __arm_lpae_free_pgtable().</summary>
    private void FreeTable(int level, ulong table)
    {
        var entries = level == StartLevel ? 1UL << _pgdBits : _ptesPerTable;
        if (level < MaxLevels - 1)
        {
            for (ulong i = 0; i < entries; i++)
            {
                var pte = _memory.ReadU64(table + i * 8);
                if (pte != 0 && !IsLeaf(pte, level))
                {
                    FreeTable(level + 1, PteToPaddr(pte));
                }
            }
        }

        _allocator.Free(table, level == StartLevel ? _pgdAllocSize : Granule);
    }

    private static bool IsLeaf(ulong pte, int level) =>
        level == MaxLevels - 1 ? (pte & TypeMask) == TypePage : (pte & TypeMask) == TypeBlock;

    private int LevelShift(int level) => (MaxLevels - level) * _bitsPerLevel + 3;

    private ulong Index(ulong iova, int level)
    {
        var bits = level == StartLevel ? _pgdBits : _bitsPerLevel;
        return (iova >> LevelShift(level)) & ((1UL << bits) - 1);
    }

    /// <summary>Entries from <paramref name="index"/> to the end of its table page. Models arm_lpae_max_entries().</summary>
    private ulong MaxEntries(ulong index) => _ptesPerTable - (index & (_ptesPerTable - 1));
}
