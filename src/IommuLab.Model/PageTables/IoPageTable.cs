using System.Collections.Immutable;
using System.Numerics;

namespace IommuLab.Model.PageTables;

/// <summary>
/// The page table a paging domain owns: one format's ops plus the size logic of the IOMMU core that splits a
/// mapping into page and block sizes. This is what a DART or SMMU domain model holds; the hardware side reads
/// <see cref="Ttbrs"/> (and <see cref="DartLevels"/> or <see cref="LpaeRegisters"/>) to program stream state.
/// </summary>
public sealed class IoPageTable
{
    private readonly IIoPgtableOps _ops;
    private bool _freed;

    private IoPageTable(IoPgtableConfig config, IIoPgtableOps ops, DartPageTable? dart, ArmLpaePageTable? lpae)
    {
        Config = config;
        _ops = ops;
        Dart = dart;
        Lpae = lpae;
        if (dart is not null)
        {
            PgsizeBitmap = config.PgsizeBitmap;
            Ias = config.Ias;
            Oas = config.Oas;
            Ttbrs = dart.Ttbrs;
        }
        else
        {
            PgsizeBitmap = lpae!.PgsizeBitmap;
            Ias = lpae.Ias;
            Oas = lpae.Oas;
            Ttbrs = [lpae.Pgd];
        }

        MinPageSize = 1UL << BitOperations.TrailingZeroCount(PgsizeBitmap);
    }

    /// <summary>The config the driver asked for.</summary>
    public IoPgtableConfig Config { get; }

    public IoPgtableFormat Format => Config.Format;

    /// <summary>Page sizes in use (<c>domain-&gt;pgsize_bitmap</c>, after the format narrowed them).</summary>
    public ulong PgsizeBitmap { get; }

    public ulong MinPageSize { get; }

    /// <summary>Input address bits in use; the domain aperture is [0, 2^Ias - 1].</summary>
    public int Ias { get; }

    public int Oas { get; }

    /// <summary>Physical addresses of the top-level tables: n_ttbrs for DART, one for LPAE.</summary>
    public ImmutableArray<ulong> Ttbrs { get; }

    /// <summary>DART levels including the TTBR level (<c>apple_dart_cfg.n_levels</c>); 0 for other formats.</summary>
    public int DartLevels => Dart?.Levels ?? 0;

    /// <summary>TTBR, TCR fields and MAIR for a stage-1 table; null for DART.</summary>
    public ArmLpaeS1Registers? LpaeRegisters => Lpae?.Registers;

    /// <summary>The DART format object, for raw PTE encodings; null for other formats.</summary>
    public DartPageTable? Dart { get; }

    /// <summary>The LPAE format object; null for DART.</summary>
    public ArmLpaePageTable? Lpae { get; }

    /// <summary>The format's own operations, for callers that want map_pages/unmap_pages directly.</summary>
    public IIoPgtableOps Ops => _ops;

    /// <summary>
    /// Allocates a page table of <paramref name="config"/>'s format with tables from <paramref name="allocator"/>.
    /// Models alloc_io_pgtable_ops() (drivers/iommu/io-pgtable.c): null, with the reason, where it returns NULL.
    /// </summary>
    public static IoPageTable? Allocate(IoPgtableConfig config, TablePageAllocator allocator, out string? rejection)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(allocator);
        if (config.Format == IoPgtableFormat.ArmLpaeS1)
        {
            var lpae = ArmLpaePageTable.Create(config, allocator, out rejection);
            return lpae is null ? null : new IoPageTable(config, lpae, null, lpae);
        }

        var dart = DartPageTable.Create(config, allocator, out rejection);
        return dart is null ? null : new IoPageTable(config, dart, dart, null);
    }

    /// <summary>
    /// Maps [iova, iova + size) to [paddr, paddr + size) with the largest page or block sizes alignment allows,
    /// undoing any partial work on failure. Models iommu_map() / __iommu_map() (drivers/iommu/iommu.c).
    /// </summary>
    public IoPgtableStatus Map(ulong iova, ulong paddr, ulong size, IommuProt prot)
    {
        ThrowIfFreed();
        if (((iova | paddr | size) & (MinPageSize - 1)) != 0)
        {
            return IoPgtableStatus.Invalid;
        }

        if (!FitsAddressSpace(iova, size) || !FitsAddressSpace(paddr, size))
        {
            return IoPgtableStatus.OutOfRange; // the kernel would wrap; the model refuses instead
        }

        var origIova = iova;
        var remaining = size;
        var status = IoPgtableStatus.Ok;
        while (remaining != 0)
        {
            var pgsize = PageSizeFor(iova, paddr, remaining, out var count);
            status = _ops.MapPages(iova, paddr, pgsize, count, prot, out var mapped);
            remaining -= mapped;
            if (status != IoPgtableStatus.Ok)
            {
                break;
            }

            iova += mapped;
            paddr += mapped;
        }

        if (status != IoPgtableStatus.Ok && size != remaining)
        {
            Unmap(origIova, size - remaining);
        }

        return status;
    }

    /// <summary>
    /// Unmaps up to <paramref name="size"/> bytes from <paramref name="iova"/>, stopping at the first hole; returns the
    /// bytes unmapped (0 if unaligned), which may exceed <paramref name="size"/> when a larger block covered the
    /// range. Models iommu_unmap() / __iommu_unmap() (drivers/iommu/iommu.c).
    /// </summary>
    public ulong Unmap(ulong iova, ulong size)
    {
        ThrowIfFreed();
        if (((iova | size) & (MinPageSize - 1)) != 0 || !FitsAddressSpace(iova, size))
        {
            return 0;
        }

        ulong unmapped = 0;
        while (unmapped < size)
        {
            var pgsize = PageSizeFor(iova, iova, size - unmapped, out var count);
            var done = _ops.UnmapPages(iova, pgsize, count);
            if (done == 0)
            {
                break;
            }

            iova += done;
            unmapped += done;
        }

        return unmapped;
    }

    /// <summary>The physical address for <paramref name="iova"/>, or 0. Models iommu_iova_to_phys() (drivers/iommu/iommu.c).</summary>
    public ulong IovaToPhys(ulong iova)
    {
        ThrowIfFreed();
        return _ops.IovaToPhys(iova);
    }

    /// <summary>Frees every table page. Models free_io_pgtable_ops() (drivers/iommu/io-pgtable.c).</summary>
    public void Free()
    {
        ThrowIfFreed();
        _ops.Free();
        _freed = true;
    }

    /// <summary>
    /// The largest supported page size that fits the size and the common alignment of both addresses, and how many
    /// of them to map before a larger size becomes possible. Models iommu_pgsize() (drivers/iommu/iommu.c).
    /// </summary>
    public ulong PageSizeFor(ulong iova, ulong paddr, ulong size, out ulong count)
    {
        var addrMerge = iova | paddr;
        var pgsizes = PgsizeBitmap & LowMask(63 - BitOperations.LeadingZeroCount(size));
        if (addrMerge != 0)
        {
            pgsizes &= LowMask(BitOperations.TrailingZeroCount(addrMerge));
        }

        if (pgsizes == 0)
        {
            throw new InvalidOperationException("model bug: no page size fits an aligned request");
        }

        var pgsizeIdx = 63 - BitOperations.LeadingZeroCount(pgsizes);
        var pgsize = 1UL << pgsizeIdx;
        var larger = pgsizeIdx == 63 ? 0 : PgsizeBitmap & ~LowMask(pgsizeIdx);
        if (larger != 0)
        {
            var next = 1UL << BitOperations.TrailingZeroCount(larger);
            if (((iova ^ paddr) & (next - 1)) == 0)
            {
                // Stop at the boundary where the larger size can start, if the request reaches past it.
                var offset = next - (addrMerge & (next - 1));
                if (offset <= ulong.MaxValue - next && offset + next <= size)
                {
                    size = offset;
                }
            }
        }

        count = size >> pgsizeIdx;
        return pgsize;
    }

    private static ulong LowMask(int highBit) => highBit >= 63 ? ulong.MaxValue : (1UL << (highBit + 1)) - 1;

    private static bool FitsAddressSpace(ulong address, ulong size) => size == 0 || address <= ulong.MaxValue - (size - 1);

    private void ThrowIfFreed()
    {
        if (_freed)
        {
            throw new InvalidOperationException("model bug: page table used after free_io_pgtable_ops()");
        }
    }
}
