using IommuLab.Model.PageTables;

namespace IommuLab.Tests.PageTables;

public sealed class ArmLpaePageTableTests
{
    private const IommuProt Rw = PageTableKit.Rw;
    private const ulong G = 1UL << 30;

    public static TheoryData<ulong, int> SelfTestMatrix()
    {
        var data = new TheoryData<ulong, int>();
        foreach (var pgsizes in new[] { 4096UL | (2UL << 20) | G, 16384UL | (32UL << 20), 65536UL | (512UL << 20) })
        {
            foreach (var ias in new[] { 32, 36, 40, 42, 44, 48 })
            {
                data.Add(pgsizes, ias);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(SelfTestMatrix))]
    public void Lpae_passes_the_arm_lpae_self_test_sequence(ulong pgsizes, int ias)
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.ArmLpaeS1(pgsizes, ias, 48) with { CpuPageSize = pgsizes & 0x1_FFFF });
        var ops = table.Ops;
        Assert.Equal(pgsizes, table.PgsizeBitmap);
        Assert.Equal(0UL, ops.IovaToPhys(42));
        Assert.Equal(0UL, ops.IovaToPhys(G + 42));
        Assert.Equal(0UL, ops.IovaToPhys(2 * G + 42));

        var sizes = Sizes(pgsizes);
        ulong iova = 0;
        foreach (var size in sizes)
        {
            Assert.Equal(IoPgtableStatus.Ok, ops.MapPages(iova, iova, size, 1, Rw | IommuProt.NoExec | IommuProt.Cache, out _));
            Assert.Equal(IoPgtableStatus.Exists, ops.MapPages(iova, iova + size, size, 1, IommuProt.Read | IommuProt.NoExec, out _));
            Assert.Equal(iova + 42, ops.IovaToPhys(iova + 42));
            iova += G;
        }

        // Partial unmap of the block at 1 GiB splits it; remapping the hole points it elsewhere.
        var small = sizes[0];
        Assert.Equal(small, ops.UnmapPages(G + small, small, 1));
        Assert.Equal(0UL, ops.IovaToPhys(G + small + 42));
        Assert.Equal(G + 2 * small + 42, ops.IovaToPhys(G + 2 * small + 42));
        Assert.Equal(IoPgtableStatus.Ok, ops.MapPages(G + small, small, small, 1, IommuProt.Read, out _));
        Assert.Equal(small + 42, ops.IovaToPhys(G + small + 42));

        iova = 0;
        foreach (var size in sizes)
        {
            Assert.Equal(size, ops.UnmapPages(iova, size, 1));
            Assert.Equal(0UL, ops.IovaToPhys(iova + 42));
            Assert.Equal(IoPgtableStatus.Ok, ops.MapPages(iova, iova, size, 1, IommuProt.Write, out _));
            Assert.Equal(iova + 42, ops.IovaToPhys(iova + 42));
            iova += G;
        }

        table.Free();
        Assert.Equal(0, kit.Allocator.BlocksInUse);
    }

    [Theory]
    [InlineData(4096UL, 48, 48, 0, 16, 0, 5)]
    [InlineData(4096UL, 39, 40, 1, 25, 0, 2)]
    [InlineData(4096UL, 32, 36, 1, 32, 0, 1)]
    [InlineData(16384UL, 48, 48, 0, 16, 2, 5)]
    [InlineData(16384UL, 36, 40, 2, 28, 2, 2)]
    [InlineData(65536UL, 48, 44, 1, 16, 1, 4)]
    [InlineData(65536UL, 42, 42, 2, 22, 1, 3)]
    public void Lpae_start_level_and_tcr_fields_follow_from_granule_ias_and_oas(ulong granule, int ias, int oas, int startLevel, int tsz, int tg, int ips)
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.ArmLpaeS1(granule, ias, oas) with { CpuPageSize = granule });
        Assert.Equal(startLevel, table.Lpae!.StartLevel);
        var regs = table.LpaeRegisters!;
        Assert.Equal((tsz, tg, ips, 3, 1, 1), (regs.Tsz, regs.Tg, regs.Ips, regs.Sh, regs.Irgn, regs.Orgn));
        Assert.Equal(table.Ttbrs[0], regs.Ttbr);
        Assert.Equal(0x00000000_F404FF44UL, regs.Mair);
    }

    [Theory]
    [InlineData(4096UL, 4096UL | (2UL << 20) | (1UL << 30))]
    [InlineData(16384UL, 16384UL | (32UL << 20))]
    [InlineData(65536UL, 65536UL | (512UL << 20))]
    public void Lpae_keeps_only_the_granule_matching_the_cpu_page_size_and_its_blocks(ulong cpuPage, ulong expected)
    {
        const ulong smmu = 4096UL | 16384 | 65536 | (2UL << 20) | (32UL << 20) | (512UL << 20) | (1UL << 30);
        Assert.Equal(expected, ArmLpaePageTable.RestrictPageSizes(smmu, cpuPage));
        Assert.Equal(4096UL | (2UL << 20), ArmLpaePageTable.RestrictPageSizes(4096UL | (2UL << 20), 16384));
    }

    [Theory]
    [InlineData(IommuProt.Read | IommuProt.Write | IommuProt.Cache, 0x8000_0F47UL)]
    [InlineData(IommuProt.Read | IommuProt.Write, 0x8000_0E43UL)]
    [InlineData(IommuProt.Read, 0x8000_0EC3UL)]
    [InlineData(IommuProt.Write, 0x8000_0E43UL)]
    [InlineData(IommuProt.Read | IommuProt.Write | IommuProt.Priv, 0x8000_0E03UL)]
    [InlineData(IommuProt.Read | IommuProt.Write | IommuProt.Mmio, 0x8000_0E4BUL)]
    [InlineData(IommuProt.Read | IommuProt.NoExec, 0x0060_0000_8000_0EC3UL)]
    public void Lpae_page_descriptor_has_the_kernels_exact_bits(IommuProt prot, ulong expected)
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.ArmLpaeS1(4096 | (2UL << 20), 48, 48));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x1000, 0x8000_0000, 0x1000, prot));
        Assert.Equal(expected, Descriptor(kit, table, 0x1000, 3));
    }

    [Fact]
    public void Lpae_block_and_table_descriptors_have_types_1_and_3()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.ArmLpaeS1(4096 | (2UL << 20), 48, 48));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x20_0000, 0x4000_0000, 0x20_0000, Rw | IommuProt.Cache));
        Assert.Equal(0x4000_0F45UL, Descriptor(kit, table, 0x20_0000, 2));
        var l1 = Descriptor(kit, table, 0x20_0000, 1);
        Assert.Equal(3UL, l1 & 3);
        Assert.Equal(0UL, l1 & ~(ArmLpaePageTable.AddressMask | 3));
    }

    [Fact]
    public void Lpae_partial_unmap_of_a_2m_block_splits_it_into_pages_that_keep_its_attributes()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.ArmLpaeS1(4096 | (2UL << 20), 48, 48));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x4020_0000, 0x1_0020_0000, 0x20_0000, IommuProt.Read));
        var before = kit.Allocator.BlocksInUse;

        Assert.Equal(0x1000UL, table.Unmap(0x4030_0000, 0x1000));
        Assert.Equal(before + 1, kit.Allocator.BlocksInUse);
        Assert.Equal(0UL, table.IovaToPhys(0x4030_0000));
        Assert.Equal(0x1_0030_1234UL, table.IovaToPhys(0x4030_1234));
        Assert.Equal(0x1_0020_0000UL, table.IovaToPhys(0x4020_0000));
        Assert.Equal(3UL, Descriptor(kit, table, 0x4020_0000, 2) & 3);
        Assert.Equal(0x1_0020_0EC3UL, Descriptor(kit, table, 0x4020_0000, 3));

        var walker = PageTableKit.WalkerFor(table);
        Assert.Equal(WalkResult.Success(0x1_003F_F000, 3, IoPgtableFormat.ArmLpaeS1),
            HardwareWalker.Translate(kit.Memory, walker, 0x403F_F000, DmaAccess.Read));
        Assert.Equal(WalkFaultKind.Permission, HardwareWalker.Translate(kit.Memory, walker, 0x4020_0000, DmaAccess.Write).Fault);
    }

    [Fact]
    public void Lpae_partial_unmap_of_a_1g_block_splits_through_two_levels()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.ArmLpaeS1(4096 | (2UL << 20) | G, 39, 40));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(G, 2 * G, G, Rw));
        Assert.Equal(0x1000UL, table.Unmap(G + 0x5000, 0x1000));

        var walker = PageTableKit.WalkerFor(table);
        Assert.Equal(3, HardwareWalker.Translate(kit.Memory, walker, G, DmaAccess.Write).Level);
        Assert.Equal(2, HardwareWalker.Translate(kit.Memory, walker, G + 0x20_0000, DmaAccess.Write).Level);
        Assert.Equal(WalkFaultKind.Translation, HardwareWalker.Translate(kit.Memory, walker, G + 0x5000, DmaAccess.Read).Fault);
        Assert.Equal(2 * G + 0x3FFF_FFFF, table.IovaToPhys(G + 0x3FFF_FFFF));
    }

    [Fact]
    public void Lpae_unmap_of_a_whole_block_returns_its_size_and_frees_no_tables()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.ArmLpaeS1(4096 | (2UL << 20), 48, 48));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x20_0000, 0x20_0000, 0x40_0000, Rw));
        Assert.Equal(0x40_0000UL, table.Unmap(0x20_0000, 0x40_0000));
        Assert.Equal(0UL, table.IovaToPhys(0x30_0000));
    }

    [Fact]
    public void Lpae_mapping_a_block_over_a_table_frees_the_table_and_its_pages_as_the_kernel_does()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.ArmLpaeS1(4096 | (2UL << 20), 48, 48));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x20_1000, 0x9000, 0x1000, Rw));
        var withTable = kit.Allocator.BlocksInUse;
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x20_0000, 0x4000_0000, 0x20_0000, Rw));
        Assert.Equal(withTable - 1, kit.Allocator.BlocksInUse);
        Assert.Equal(0x4000_1000UL, table.IovaToPhys(0x20_1000));
    }

    [Fact]
    public void Lpae_mapping_a_page_inside_a_block_is_eexist()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.ArmLpaeS1(4096 | (2UL << 20), 48, 48));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x20_0000, 0x4000_0000, 0x20_0000, Rw));
        Assert.Equal(IoPgtableStatus.Exists, table.Map(0x20_1000, 0x9000, 0x1000, Rw));
    }

    [Fact]
    public void Lpae_map_errors_are_the_kernels_errno_values()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.ArmLpaeS1(4096 | (2UL << 20), 32, 40));
        Assert.Equal(IoPgtableStatus.OutOfRange, table.Map(1UL << 32, 0, 0x1000, Rw));
        Assert.Equal(IoPgtableStatus.OutOfRange, table.Map(0, 1UL << 40, 0x1000, Rw));
        Assert.Equal(IoPgtableStatus.Invalid, table.Map(0, 0, 0x1000, IommuProt.NoExec));
        Assert.Equal(IoPgtableStatus.Invalid, table.Ops.MapPages(0, 0, 16384, 1, Rw, out _));
        Assert.Equal(0UL, table.Ops.UnmapPages(1UL << 32, 0x1000, 1));
    }

    [Fact]
    public void Lpae_rejects_what_arm_lpae_alloc_pgtable_rejects()
    {
        var kit = new PageTableKit();
        Assert.Null(IoPageTable.Allocate(IoPgtableConfig.ArmLpaeS1(8192, 48, 48), kit.Allocator, out var why));
        Assert.Contains("granule", why);
        Assert.Null(IoPageTable.Allocate(IoPgtableConfig.ArmLpaeS1(4096, 48, 38), kit.Allocator, out why));
        Assert.Contains("IPS", why);
        Assert.Equal(0, kit.Allocator.BlocksInUse);
    }

    [Fact]
    public void Lpae_caps_ias_and_oas_at_48_bits()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.ArmLpaeS1(4096, 52, 52));
        Assert.Equal((48, 48), (table.Ias, table.Oas));
    }

    [Fact]
    public void Lpae_map_returns_enomem_when_the_allocator_is_exhausted()
    {
        var kit = new PageTableKit(tableRegionSize: 0x1000);
        var table = kit.Table(IoPgtableConfig.ArmLpaeS1(4096, 48, 48));
        Assert.Equal(IoPgtableStatus.NoMemory, table.Map(0, 0, 0x1000, Rw));
        Assert.Equal(0UL, table.IovaToPhys(0));
    }

    private static ulong[] Sizes(ulong bitmap)
    {
        var list = new List<ulong>();
        for (var b = 0; b < 64; b++)
        {
            if ((bitmap & (1UL << b)) != 0)
            {
                list.Add(1UL << b);
            }
        }

        return [.. list];
    }

    /// <summary>Reads the descriptor for iova at a level of a 4K-granule, ias-48/39 table by walking raw memory.</summary>
    internal static ulong Descriptor(PageTableKit kit, IoPageTable table, ulong iova, int level)
    {
        var lpae = table.Lpae!;
        var tableAddress = lpae.Pgd;
        for (var l = lpae.StartLevel; ; l++)
        {
            var shift = (4 - l) * 9 + 3;
            var pte = kit.Memory.ReadU64(tableAddress + ((iova >> shift) & 511) * 8);
            if (l == level)
            {
                return pte;
            }

            tableAddress = pte & ArmLpaePageTable.AddressMask;
        }
    }
}
