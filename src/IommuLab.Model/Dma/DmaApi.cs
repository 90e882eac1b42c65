using IommuLab.Model.Kernel;
using IommuLab.Model.PageTables;

namespace IommuLab.Model.Dma;

/// <summary>The direction of a streaming mapping (<c>enum dma_data_direction</c>).</summary>
public enum DmaDirection
{
    Bidirectional,
    ToDevice,
    FromDevice,
}

/// <summary>
/// One streaming mapping: the bus address the device is told to use, or the reason <c>dma_map_single()</c>
/// returned DMA_MAPPING_ERROR. For iommu-dma, the IOVA range and domain it occupies (for the unmap).
/// </summary>
public sealed record DmaMapping(DmaMode Mode, ulong Physical, ulong Size, ulong DmaAddress, string? Error, IommuDomain? Domain, ulong Iova, ulong IovaSize)
{
    public bool Failed => Error is not null;

    /// <summary>The swiotlb slot dma-direct bounced the buffer through, when the device cannot reach the buffer itself.</summary>
    public ulong? Bounce { get; init; }

    /// <summary>The memory the device must reach: the bounce slot, else the buffer.</summary>
    public ulong Target => Bounce ?? Physical;
}

/// <summary>
/// The streaming DMA API over a device's DMA ops: dma-direct (bus address from <c>dma-ranges</c>) or iommu-dma
/// (IOVA from the domain's cookie, mapped in the domain's page table). Models dma_map_single()/dma_unmap_single()
/// (kernel/dma/mapping.c) with dma_direct_map_phys() (kernel/dma/direct.h) and iommu_dma_map_page() /
/// iommu_dma_unmap_page() (drivers/iommu/dma-iommu.c). Drivers of the model set a 64-bit DMA mask.
/// </summary>
public static class DmaApi
{
    public const ulong DmaMask = ulong.MaxValue;

    /// <summary>Maps <paramref name="size"/> bytes at <paramref name="phys"/> for the device. Models dma_map_single().</summary>
    public static DmaMapping MapSingle(Kernel.Kernel k, Device dev, ulong phys, ulong size, DmaDirection dir)
    {
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(dev);
        if (size == 0)
        {
            throw new ArgumentException("model bug: zero-length DMA mapping", nameof(size));
        }

        var windows = k.Platform.Dma.WindowsOf(dev.Info);
        var busLimit = windows.IsDefaultOrEmpty ? 0 : windows.Max(w => w.DmaEnd);
        if (dev.Dma != DmaMode.IommuDma)
        {
            return DirectMap(k, dev, windows, phys, size, dir);
        }

        var domain = dev.Group?.Domain;
        var dd = k.Dma.DomainOf(domain);
        if (domain is not { IsDmaApi: true } || dd is null)
        {
            return Failed(DmaMode.IommuDma, phys, size, $"iommu-dma ops but {(domain is null ? "no domain" : domain.ToString())} has no IOVA cookie");
        }

        // iommu_dma_init_domain(): the cookie covers the aperture [0, 2^ias - 1]. The per-CPU range caches only
        // speed up repeated allocations and the check maps one buffer per device, so they are left out: cheaper.
        var cookie = dd.Cookie ??= new DmaIovaDomain(dd.Table.PgsizeBitmap, 0, dd.Table.Ias >= 64 ? ulong.MaxValue : (1UL << dd.Table.Ias) - 1, rangeCaches: false);
        var granule = cookie.Iovad.Granule;
        var offset = phys & (granule - 1);
        var iovaSize = checked((size + offset + granule - 1) & ~(granule - 1));
        var client = k.Dma.ClientOf(dev, busLimit);
        var iova = cookie.AllocIova(iovaSize, DmaMask, client);
        if (iova == 0)
        {
            return Failed(DmaMode.IommuDma, phys, size, $"no IOVA space for 0x{iovaSize:x} bytes below the DMA limit");
        }

        var status = dd.Table.Map(iova, phys - offset, iovaSize, Prot(dir));
        if (status != IoPgtableStatus.Ok)
        {
            cookie.FreeIova(iova, iovaSize);
            return Failed(DmaMode.IommuDma, phys, size, $"iommu_map of IOVA 0x{iova:x} failed: {status}");
        }

        return new DmaMapping(DmaMode.IommuDma, phys, size, iova + offset, null, domain, iova, iovaSize);
    }

    /// <summary>Undoes <see cref="MapSingle"/>. Models dma_unmap_single(): iommu_unmap() then the IOVA is freed.</summary>
    public static void UnmapSingle(Kernel.Kernel k, DmaMapping mapping)
    {
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(mapping);
        if (mapping.Bounce is { } slot)
        {
            k.Dma.Memory.Clear(slot & ~(PhysicalMemory.BackingPageSize - 1), PhysicalMemory.BackingPageSize);
        }

        if (mapping.Failed || mapping.Mode != DmaMode.IommuDma || k.Dma.DomainOf(mapping.Domain) is not { Cookie: { } cookie } dd)
        {
            return;
        }

        dd.Table.Unmap(mapping.Iova, mapping.IovaSize);
        cookie.FreeIova(mapping.Iova, mapping.IovaSize);
    }

    /// <summary>
    /// Models dma_direct_map_phys(): phys_to_dma() through the <c>dma-ranges</c> windows and dma_capable(); a buffer
    /// the device cannot reach is bounced through its swiotlb slot (swiotlb_map(), kernel/dma/swiotlb.c), copied
    /// there for a DMA_TO_DEVICE mapping.
    /// </summary>
    private static DmaMapping DirectMap(Kernel.Kernel k, Device dev, System.Collections.Immutable.ImmutableArray<DmaWindow> windows, ulong phys, ulong size, DmaDirection dir)
    {
        if (PhysToDma(windows, phys, size) is { } dma)
        {
            return new DmaMapping(DmaMode.Direct, phys, size, dma, null, null, 0, 0);
        }

        var slot = DmaSystem.SwiotlbSlotOf(dev);
        if (size > DmaSystem.SwiotlbSlotSize || PhysToDma(windows, slot, size) is not { } bounced)
        {
            return Failed(DmaMode.Direct, phys, size, $"0x{phys:x} is outside every dma-ranges window of {dev.Name} and so is its swiotlb slot");
        }

        if (dir != DmaDirection.FromDevice)
        {
            Span<byte> data = stackalloc byte[(int)size];
            k.Dma.Memory.TryRead(phys, data);
            k.Dma.Memory.TryWrite(slot, data);
        }

        return new DmaMapping(DmaMode.Direct, phys, size, bounced, null, null, 0, 0) { Bounce = slot };
    }

    /// <summary>phys_to_dma() and dma_capable(): the bus address, or null when no window holds the whole range.</summary>
    private static ulong? PhysToDma(System.Collections.Immutable.ImmutableArray<DmaWindow> windows, ulong phys, ulong size)
    {
        if (windows.IsDefaultOrEmpty)
        {
            return phys;
        }

        var last = checked(phys + (size - 1));
        var w = windows.FirstOrDefault(w => phys >= w.CpuStart && last - w.CpuStart < w.Size);
        return w.Size == 0 ? null : phys - w.CpuStart + w.DmaStart;
    }

    /// <summary>Models dma_info_to_prot() for a coherent device.</summary>
    private static IommuProt Prot(DmaDirection dir) => IommuProt.Cache | dir switch
    {
        DmaDirection.ToDevice => IommuProt.Read,
        DmaDirection.FromDevice => IommuProt.Write,
        _ => IommuProt.Read | IommuProt.Write,
    };

    private static DmaMapping Failed(DmaMode mode, ulong phys, ulong size, string why) => new(mode, phys, size, 0, why, null, 0, 0);
}
