using System.Numerics;

namespace IommuLab.Model.PageTables;

/// <summary>
/// The per-device state <c>iommu_dma_alloc_iova()</c> reads and changes: the PCI 32-bit-first workaround flag
/// (<c>dev-&gt;iommu-&gt;pci_32bit_workaround</c>) and the bus DMA limit (<c>dev-&gt;bus_dma_limit</c>, 0 = none).
/// </summary>
public sealed class DmaIovaClient
{
    /// <summary>Try below 4 GiB first; cleared for good after the first failure there.</summary>
    public bool Pci32BitWorkaround { get; set; }

    /// <summary>The bus's DMA limit (from <c>dma-ranges</c>), 0 when there is none.</summary>
    public ulong BusDmaLimit { get; init; }

    /// <summary>The "Using N-bit DMA addresses" notice, once the workaround has been dropped.</summary>
    public string? Notice { get; private set; }

    /// <summary>The state <c>iommu_setup_dma_ops()</c> gives a device: PCI devices try 32-bit IOVAs first unless iommu.forcedac.</summary>
    public static DmaIovaClient Create(bool isPci, bool forceDac = false, ulong busDmaLimit = 0) =>
        new() { Pci32BitWorkaround = isPci && !forceDac, BusDmaLimit = busDmaLimit };

    internal void DropWorkaround(ulong dmaLimit)
    {
        Pci32BitWorkaround = false;
        Notice = $"Using {64 - BitOperations.LeadingZeroCount(dmaLimit)}-bit DMA addresses";
    }
}

/// <summary>
/// The IOVA side of a DMA domain (<c>struct iommu_dma_cookie</c> with its <c>iova_domain</c>): granule from the
/// domain's smallest page size, frames from max(1, aperture start) up, allocations capped by the aperture when
/// the domain forces it.
/// </summary>
public sealed class DmaIovaDomain
{
    /// <summary>Models the IOVA part of iommu_dma_init_domain() (drivers/iommu/dma-iommu.c).</summary>
    public DmaIovaDomain(ulong pgsizeBitmap, ulong apertureStart, ulong apertureEnd, bool forceAperture = true, bool rangeCaches = true)
    {
        if (pgsizeBitmap == 0 || apertureEnd < apertureStart)
        {
            throw new ArgumentException("a DMA domain needs page sizes and a non-empty aperture");
        }

        var granule = 1UL << BitOperations.TrailingZeroCount(pgsizeBitmap);
        ApertureStart = apertureStart;
        ApertureEnd = apertureEnd;
        ForceAperture = forceAperture;
        Iovad = new IovaAllocator(granule, Math.Max(1UL, apertureStart >> BitOperations.TrailingZeroCount(granule)), rangeCaches);
    }

    /// <summary>A DMA domain over <paramref name="table"/>, with the aperture [0, 2^ias - 1] drivers set.</summary>
    public static DmaIovaDomain ForTable(IoPageTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        var end = table.Ias >= 64 ? ulong.MaxValue : (1UL << table.Ias) - 1;
        return new DmaIovaDomain(table.PgsizeBitmap, 0, end);
    }

    public IovaAllocator Iovad { get; }

    public ulong ApertureStart { get; }

    public ulong ApertureEnd { get; }

    public bool ForceAperture { get; }

    /// <summary>
    /// Allocates <paramref name="size"/> bytes (granule-aligned) of IOVA space below the device's DMA mask, the
    /// bus limit and the aperture; for a PCI device with the workaround still set, below 4 GiB first. Returns the
    /// IOVA, or 0 when nothing fits. Models iommu_dma_alloc_iova() (drivers/iommu/dma-iommu.c).
    /// </summary>
    public ulong AllocIova(ulong size, ulong dmaLimit, DmaIovaClient device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (size == 0 || (size & (Iovad.Granule - 1)) != 0)
        {
            throw new ArgumentException($"model bug: IOVA size 0x{size:x} is not a multiple of the granule", nameof(size));
        }

        var shift = Iovad.Shift;
        var length = size >> shift;
        if (device.BusDmaLimit != 0 && (dmaLimit == 0 || device.BusDmaLimit < dmaLimit))
        {
            dmaLimit = device.BusDmaLimit;
        }

        if (ForceAperture)
        {
            dmaLimit = Math.Min(dmaLimit, ApertureEnd);
        }

        if (dmaLimit > uint.MaxValue && device.Pci32BitWorkaround)
        {
            var low = Iovad.AllocIovaFast(length, uint.MaxValue >> shift, flushRcache: false);
            if (low != 0)
            {
                return low << shift;
            }

            device.DropWorkaround(dmaLimit);
        }

        return Iovad.AllocIovaFast(length, dmaLimit >> shift, flushRcache: true) << shift;
    }

    /// <summary>Returns an IOVA range (strict invalidation: no flush queue). Models iommu_dma_free_iova() (drivers/iommu/dma-iommu.c).</summary>
    public void FreeIova(ulong iova, ulong size) => Iovad.FreeIovaFast(iova >> Iovad.Shift, size >> Iovad.Shift);
}
