using IommuLab.Model.PageTables;

namespace IommuLab.Tests.PageTables;

public sealed class IoPageTableTests
{
    private const IommuProt Rw = PageTableKit.Rw;

    private static (PageTableKit Kit, IoPageTable Table) Lpae4k(ulong tableRegion = PageTableKit.TableRegionSize)
    {
        var kit = new PageTableKit(tableRegionSize: tableRegion);
        return (kit, kit.Table(IoPgtableConfig.ArmLpaeS1(4096 | (2UL << 20) | (1UL << 30), 48, 48)));
    }

    [Fact]
    public void Iommu_map_uses_pages_up_to_a_block_boundary_then_blocks_then_pages()
    {
        var (kit, table) = Lpae4k();
        Assert.Equal(0x1000UL, table.PageSizeFor(0x1F_F000, 0x1_001F_F000, 0x20_2000, out var count));
        Assert.Equal(1UL, count);
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x1F_F000, 0x1_001F_F000, 0x20_2000, Rw));

        var walker = PageTableKit.WalkerFor(table);
        Assert.Equal(3, HardwareWalker.Translate(kit.Memory, walker, 0x1F_F000, DmaAccess.Read).Level);
        Assert.Equal(2, HardwareWalker.Translate(kit.Memory, walker, 0x20_0000, DmaAccess.Read).Level);
        Assert.Equal(3, HardwareWalker.Translate(kit.Memory, walker, 0x40_0000, DmaAccess.Read).Level);
        Assert.Equal(0x20_2000UL, table.Unmap(0x1F_F000, 0x20_2000));
        Assert.Equal(0UL, table.IovaToPhys(0x30_0000));
    }

    [Fact]
    public void Iommu_map_uses_pages_when_iova_and_paddr_are_not_equally_offset_in_a_block()
    {
        var (kit, table) = Lpae4k();
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x20_0000, 0x1000_1000, 0x20_0000, Rw));
        var result = HardwareWalker.Translate(kit.Memory, PageTableKit.WalkerFor(table), 0x20_0000, DmaAccess.Read);
        Assert.Equal((3, 0x1000_1000UL), (result.Level, result.PhysicalAddress));
    }

    [Fact]
    public void Iommu_map_and_unmap_refuse_addresses_not_aligned_to_the_smallest_page()
    {
        var (_, table) = Lpae4k();
        Assert.Equal(IoPgtableStatus.Invalid, table.Map(0x1000, 0x2800, 0x1000, Rw));
        Assert.Equal(IoPgtableStatus.Invalid, table.Map(0x1000, 0x2000, 0x1800, Rw));
        Assert.Equal(IoPgtableStatus.OutOfRange, table.Map(ulong.MaxValue - 0xFFF, 0, 0x2000, Rw));
        Assert.Equal(0UL, table.Unmap(0x1800, 0x1000));
    }

    [Fact]
    public void Iommu_unmap_of_one_page_inside_a_block_unmaps_just_that_page()
    {
        var (_, table) = Lpae4k();
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x20_0000, 0x4000_0000, 0x20_0000, Rw));
        Assert.Equal(0x1000UL, table.Unmap(0x20_1000, 0x1000));
        Assert.Equal(0x4000_0000UL, table.IovaToPhys(0x20_0000));
        Assert.Equal(0UL, table.IovaToPhys(0x20_1000));
    }

    [Fact]
    public void Iommu_map_undoes_the_pages_it_mapped_when_a_later_chunk_fails()
    {
        var (_, table) = Lpae4k(tableRegion: 0x4000); // start-level table plus one table per level
        Assert.Equal(IoPgtableStatus.NoMemory, table.Map(0x1F_F000, 0x9000, 0x2000, Rw));
        Assert.Equal(0UL, table.IovaToPhys(0x1F_F000));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x1F_E000, 0x9000, 0x1000, Rw));
    }

    [Fact]
    public void Freeing_a_table_returns_every_table_page_and_later_use_is_a_model_bug()
    {
        var (kit, table) = Lpae4k();
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x7_0000_0000, 0x9000, 0x1000, Rw));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x20_0000, 0x20_0000, 0x20_0000, Rw));
        Assert.Equal(0x1000UL, table.Unmap(0x20_0000, 0x1000));
        table.Free();
        Assert.Equal(0, kit.Allocator.BlocksInUse);
        Assert.Throws<InvalidOperationException>(() => table.IovaToPhys(0));
    }

    [Fact]
    public void Physical_memory_is_sparse_and_reads_unbacked_ram_as_zero()
    {
        var memory = new PhysicalMemory(1UL << 40);
        Assert.True(memory.TryReadU64(0x12_3456_7000, out var value));
        Assert.Equal(0UL, value);
        Assert.True(memory.TryWriteU64(0x12_3456_7008, 0));
        Assert.Equal(0, memory.BackedChunkCount);
        Assert.True(memory.TryWrite(0xFFE, [1, 2, 3, 4]));
        Assert.Equal(2, memory.BackedChunkCount);
        var back = new byte[6];
        Assert.True(memory.TryRead(0xFFD, back));
        Assert.Equal(new byte[] { 0, 1, 2, 3, 4, 0 }, back);
        Assert.False(memory.TryReadU64(1UL << 40, out _));
        Assert.False(memory.TryWrite((1UL << 40) - 2, [1, 2, 3]));
        Assert.False(memory.TryReadU64(0x1004, out _));

        // Clearing a page drops every chunk in it, and only those.
        memory.WriteU64(0x2000, 7);
        memory.WriteU64(0x2FF8, 8);
        Assert.Equal(4, memory.BackedChunkCount);
        memory.Clear(0x2000, 0x1000);
        Assert.Equal(2, memory.BackedChunkCount);
        Assert.Equal(0UL, memory.ReadU64(0x2FF8));
        Assert.Equal(0x04UL << 8 | 0x03, memory.ReadU64(0x1000) & 0xFFFF);
    }

    [Fact]
    public void Table_allocator_hands_out_aligned_zeroed_blocks_deterministically_and_reuses_freed_ones_first()
    {
        var memory = new PhysicalMemory(1UL << 30);
        var allocator = new TablePageAllocator(memory, 0x10_0000, 0x12_0000);
        Assert.True(allocator.TryAllocate(0x1000, out var a));
        Assert.True(allocator.TryAllocate(0x4000, out var b));
        Assert.Equal((0x10_0000UL, 0x10_4000UL), (a, b));
        memory.WriteU64(b + 8, 42);
        allocator.Free(b, 0x4000);
        Assert.True(allocator.TryAllocate(0x4000, out var c));
        Assert.Equal(b, c);
        Assert.Equal(0UL, memory.ReadU64(c + 8));
        Assert.True(allocator.TryAllocate(0x10000, out var d));
        Assert.Equal(0x11_0000UL, d);
        Assert.False(allocator.TryAllocate(0x10000, out _));
    }
}
