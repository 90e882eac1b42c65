using IommuLab.Model.PageTables;

namespace IommuLab.Tests.PageTables;

public sealed class IovaAllocatorTests
{
    private const ulong Mask32 = 0xFFFF_FFFF;
    private const ulong Mask36 = (1UL << 36) - 1;

    [Fact]
    public void Allocation_is_top_down_from_the_limit()
    {
        var iovad = new IovaAllocator(4096, 1);
        Assert.Equal(0xFFFFFUL, iovad.AllocIovaFast(1, Mask32 >> 12, true));
        Assert.Equal(0xFFFFEUL, iovad.AllocIovaFast(1, Mask32 >> 12, true));
        Assert.Equal(0xFFFFFFUL, iovad.AllocIovaFast(1, Mask36 >> 12, true));
    }

    [Fact]
    public void Small_sizes_round_up_to_a_power_of_two_and_every_size_aligns_to_its_order()
    {
        var iovad = new IovaAllocator(4096, 1);
        Assert.Equal(0xFFFFCUL, iovad.AllocIovaFast(3, Mask32 >> 12, true));
        Assert.Equal(4UL, iovad.FindIova(0xFFFFC)!.Value.Size);
        Assert.Equal(0xFFFFBUL, iovad.AllocIovaFast(1, Mask32 >> 12, true));
        Assert.Equal(0xFFFF0UL, iovad.AllocIovaFast(8, Mask32 >> 12, true));
        Assert.Equal(0xFFFC0UL, iovad.AllocIovaFast(33, Mask32 >> 12, true)); // not rounded, but 64-aligned
        Assert.Equal(new IovaRange(0xFFFC0, 0xFFFE0), iovad.FindIova(0xFFFD0));
    }

    [Fact]
    public void Frame_zero_is_never_handed_out_and_an_exhausted_space_returns_zero()
    {
        var domain = new DmaIovaDomain(4096, 0, Mask36);
        var device = DmaIovaClient.Create(isPci: false);
        Assert.Equal(new ulong[] { 0x3000, 0x2000, 0x1000, 0 },
            Enumerable.Range(0, 4).Select(_ => domain.AllocIova(0x1000, 0x3FFF, device)).ToArray());
    }

    [Fact]
    public void Pci_devices_get_32_bit_iovas_first_and_platform_devices_the_top_of_their_mask()
    {
        var domain = new DmaIovaDomain(4096, 0, Mask36);
        Assert.Equal(0xFFFF_F000UL, domain.AllocIova(0x1000, Mask36, DmaIovaClient.Create(isPci: true)));
        Assert.Equal(0xF_FFFF_F000UL, domain.AllocIova(0x1000, Mask36, DmaIovaClient.Create(isPci: false)));
        Assert.Equal(0xF_FFFF_E000UL, domain.AllocIova(0x1000, Mask36, DmaIovaClient.Create(isPci: true, forceDac: true)));
    }

    [Fact]
    public void A_pci_device_that_exhausts_32_bit_space_switches_to_its_full_mask_for_good()
    {
        var domain = new DmaIovaDomain(4096, 0, Mask36);
        Assert.NotNull(domain.Iovad.AllocIova(0xFFFFF, Mask32 >> 12, sizeAligned: false)); // all of [4K, 4G)
        var device = DmaIovaClient.Create(isPci: true);
        Assert.Equal(0xF_FFFF_F000UL, domain.AllocIova(0x1000, Mask36, device));
        Assert.False(device.Pci32BitWorkaround);
        Assert.Equal("Using 36-bit DMA addresses", device.Notice);
        domain.Iovad.FreeIova(1);
        Assert.Equal(0xF_FFFF_E000UL, domain.AllocIova(0x1000, Mask36, device));
    }

    [Fact]
    public void The_bus_dma_limit_and_the_aperture_cap_the_device_mask()
    {
        var domain = new DmaIovaDomain(4096, 0, Mask36);
        var behindBridge = DmaIovaClient.Create(isPci: false, busDmaLimit: Mask32);
        Assert.Equal(0xFFFF_F000UL, domain.AllocIova(0x1000, Mask36, behindBridge));

        var kit = new PageTableKit();
        var dart = DmaIovaDomain.ForTable(kit.Table(IoPgtableConfig.AppleDart(16384, 32)));
        Assert.Equal(16384UL, dart.Iovad.Granule);
        Assert.Equal(0xFFFF_C000UL, dart.AllocIova(0x4000, ulong.MaxValue, DmaIovaClient.Create(isPci: false)));
    }

    [Fact]
    public void A_freed_small_range_stays_reserved_in_the_range_cache_and_comes_back_first()
    {
        var iovad = new IovaAllocator(4096, 1);
        var a = iovad.AllocIovaFast(2, Mask32 >> 12, true);
        var b = iovad.AllocIovaFast(2, Mask32 >> 12, true);
        iovad.FreeIovaFast(a, 2);
        Assert.Equal(2, iovad.Reserved.Count);
        Assert.Equal(1, iovad.CachedRangeCount);
        Assert.NotEqual(a, iovad.AllocIovaFast(2, b - 1, false)); // a lies above this limit, so the tree serves it
        Assert.Equal(a, iovad.AllocIovaFast(2, Mask32 >> 12, true));
        Assert.Equal(0, iovad.CachedRangeCount);
    }

    [Fact]
    public void Flushing_the_range_caches_returns_their_ranges_to_the_tree()
    {
        var iovad = new IovaAllocator(4096, 1);
        var a = iovad.AllocIovaFast(1, Mask32 >> 12, true);
        iovad.FreeIovaFast(a, 1);
        iovad.FlushRangeCaches();
        Assert.Empty(iovad.Reserved);
        Assert.Equal(0, iovad.CachedRangeCount);
    }

    [Fact]
    public void Ranges_of_more_than_32_frames_bypass_the_range_caches()
    {
        var iovad = new IovaAllocator(4096, 1);
        var a = iovad.AllocIovaFast(33, Mask32 >> 12, true);
        iovad.FreeIovaFast(a, 33);
        Assert.Empty(iovad.Reserved);
        var b = iovad.AllocIovaFast(32, Mask32 >> 12, true);
        iovad.FreeIovaFast(b, 32);
        Assert.Equal(1, iovad.CachedRangeCount);
    }

    [Fact]
    public void A_failed_32_bit_allocation_makes_same_size_32_bit_requests_fail_until_something_below_4g_is_freed()
    {
        var iovad = new IovaAllocator(4096, 1, rangeCaches: false);
        for (var i = 0; i < 3; i++)
        {
            Assert.NotNull(iovad.AllocIova(1, 3, true));
        }

        Assert.Null(iovad.AllocIova(1, 3, true));
        Assert.Null(iovad.AllocIova(1, Mask32 >> 12, true)); // plenty of room, but remembered as full
        Assert.NotNull(iovad.AllocIova(1, Mask36 >> 12, true));
        Assert.True(iovad.FreeIova(2));
        Assert.Equal(new IovaRange(2, 2), iovad.AllocIova(1, Mask32 >> 12, true)); // the search restarts just above the hole
    }

    [Fact]
    public void Allocations_are_deterministic_and_never_overlap()
    {
        static List<IovaRange> Run()
        {
            var iovad = new IovaAllocator(4096, 1);
            var random = new Random(5);
            var live = new List<(ulong Pfn, ulong Size)>();
            for (var i = 0; i < 2000; i++)
            {
                if (live.Count > 0 && random.Next(3) == 0)
                {
                    var victim = live[random.Next(live.Count)];
                    live.Remove(victim);
                    iovad.FreeIovaFast(victim.Pfn, victim.Size);
                    continue;
                }

                var size = (ulong)random.Next(1, 70);
                var pfn = iovad.AllocIovaFast(size, (random.Next(2) == 0 ? Mask32 : Mask36) >> 12, true);
                Assert.NotEqual(0UL, pfn);
                live.Add((pfn, size));
            }

            var reserved = iovad.Reserved.ToList();
            for (var i = 1; i < reserved.Count; i++)
            {
                Assert.True(reserved[i - 1].PfnHi < reserved[i].PfnLo);
            }

            foreach (var range in reserved)
            {
                var order = 64 - System.Numerics.BitOperations.LeadingZeroCount(range.Size - 1);
                Assert.Equal(0UL, range.PfnLo & ((1UL << order) - 1));
            }

            return reserved;
        }

        Assert.Equal(Run(), Run());
    }
}
