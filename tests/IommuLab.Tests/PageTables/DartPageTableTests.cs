using IommuLab.Model.PageTables;

namespace IommuLab.Tests.PageTables;

public sealed class DartPageTableTests
{
    private const IommuProt Rw = PageTableKit.Rw;

    [Theory]
    [InlineData(4096UL, 32, 36, true, 4, 3)]
    [InlineData(16384UL, 32, 36, true, 1, 3)]
    [InlineData(16384UL, 36, 36, true, 1, 3)]
    [InlineData(4096UL, 32, 36, false, 4, 3)]
    [InlineData(16384UL, 36, 42, false, 1, 3)]
    [InlineData(16384UL, 42, 42, true, 1, 4)]
    [InlineData(4096UL, 36, 36, true, 1, 4)]
    public void Dart_layout_has_the_kernels_ttbr_and_level_counts(ulong pageSize, int ias, int oas, bool variableLevels, int ttbrs, int levels)
    {
        var kit = new PageTableKit();
        var config = IoPgtableConfig.AppleDart2(pageSize, ias, oas) with { DartVariableLevels = variableLevels };
        var table = kit.Table(config);
        Assert.Equal(ttbrs, table.Ttbrs.Length);
        Assert.Equal(levels, table.DartLevels);
        Assert.All(table.Ttbrs, t => Assert.Equal(0UL, t % pageSize));
    }

    [Theory]
    [InlineData(4096UL, 32, 40, true, "oas 40")]
    [InlineData(4096UL, 40, 36, true, "ias 40")]
    [InlineData(65536UL, 32, 36, true, "neither 4K nor 16K")]
    [InlineData(16384UL, 42, 42, false, "TTBRs")]
    [InlineData(4096UL, 36, 36, false, "TTBRs")]
    [InlineData(4096UL, 42, 42, true, "table levels")]
    public void Dart_rejects_configs_the_kernel_refuses(ulong pageSize, int ias, int oas, bool variableLevels, string reason)
    {
        var kit = new PageTableKit();
        var config = IoPgtableConfig.AppleDart(pageSize, ias, oas) with { DartVariableLevels = variableLevels };
        Assert.Null(IoPageTable.Allocate(config, kit.Allocator, out var why));
        Assert.Contains(reason, why);
        Assert.Equal(0, kit.Allocator.BlocksInUse);
    }

    [Fact]
    public void Dart_refuses_a_non_coherent_walk()
    {
        var kit = new PageTableKit();
        Assert.Null(IoPageTable.Allocate(IoPgtableConfig.AppleDart(4096, 32) with { CoherentWalk = false }, kit.Allocator, out _));
    }

    [Fact]
    public void Dart1_leaf_pte_holds_the_address_sp_dis_valid_and_whole_page_subpage_range()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.AppleDart(4096, 32));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x4000_1000, 0x8_1234_5000, 0x1000, Rw));

        // TTBR 1 (bits 31:30), L1 index 0 (bits 29:21), L2 index 1 (bits 20:12).
        var l1 = kit.Memory.ReadU64(table.Ttbrs[1]);
        Assert.Equal(1UL, l1 & 1);
        var l2 = l1 & DartPageTable.Dart1PaddrMask;
        Assert.Equal(0x000F_FF08_1234_5003UL, kit.Memory.ReadU64(l2 + 8));
    }

    [Fact]
    public void Dart1_read_only_and_write_only_leaves_set_no_write_and_no_read()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.AppleDart(16384, 32));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0, 0x1_0000_0000, 0x4000, IommuProt.Read));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x4000, 0x1_0000_4000, 0x4000, IommuProt.Write));
        var leaf = kit.Memory.ReadU64(table.Ttbrs[0]) & DartPageTable.Dart1PaddrMask;
        Assert.Equal(0x000F_FF01_0000_0083UL, kit.Memory.ReadU64(leaf));
        Assert.Equal(0x000F_FF01_0000_4103UL, kit.Memory.ReadU64(leaf + 8));
    }

    [Fact]
    public void Dart2_leaf_pte_stores_the_address_shifted_right_by_four_with_no_cache_unless_coherent()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.AppleDart2(16384, 36));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0, 0x3_8765_4000, 0x4000, Rw));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x4000, 0x3_8765_8000, 0x4000, Rw | IommuProt.Cache));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x8000, 0x3_8765_C000, 0x4000, IommuProt.Read | IommuProt.Cache));
        var l1 = kit.Memory.ReadU64(table.Ttbrs[0]);
        var leaf = (l1 & DartPageTable.Dart2PaddrMask) << 4;
        Assert.Equal(0x000F_FF00_3876_5403UL, kit.Memory.ReadU64(leaf));
        Assert.Equal(0x000F_FF00_3876_5801UL, kit.Memory.ReadU64(leaf + 8));
        Assert.Equal(0x000F_FF00_3876_5C05UL, kit.Memory.ReadU64(leaf + 16));
        Assert.Equal(0x3_8765_8123UL, table.IovaToPhys(0x4123));
    }

    [Fact]
    public void Before_v6_15_dart2_leaves_also_get_bit_1_which_dart2_reads_as_no_cache()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.AppleDart2(16384, 36) with { DartSubpageDisableOnlyDart1 = false });
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0, 0x3_8765_4000, 0x4000, Rw | IommuProt.Cache));
        var leaf = (kit.Memory.ReadU64(table.Ttbrs[0]) & DartPageTable.Dart2PaddrMask) << 4;
        Assert.Equal(0x000F_FF00_3876_5403UL, kit.Memory.ReadU64(leaf));
    }

    [Fact]
    public void Dart2_table_entries_point_at_the_next_table_with_the_shifted_encoding()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.AppleDart2(16384, 42));
        Assert.Equal(4, table.DartLevels);
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x3FF_FFFF_C000, 0x1000_0000, 0x4000, Rw));
        var top = kit.Memory.ReadU64(table.Ttbrs[0] + 63 * 8); // bits 41:36
        Assert.Equal(1UL, top & 1);
        Assert.Equal(0UL, top & ~(DartPageTable.Dart2PaddrMask | 1));
        Assert.Equal(0x1000_0000UL + 0x42, table.IovaToPhys(0x3FF_FFFF_C042));
    }

    public static TheoryData<IoPgtableConfig> SelfTestConfigs() => new()
    {
        IoPgtableConfig.AppleDart(4096, 32),
        IoPgtableConfig.AppleDart(16384, 32),
        IoPgtableConfig.AppleDart(16384, 36),
        IoPgtableConfig.AppleDart(4096, 36),
        IoPgtableConfig.AppleDart(4096, 32) with { DartVariableLevels = false },
        IoPgtableConfig.AppleDart2(16384, 32),
        IoPgtableConfig.AppleDart2(16384, 36),
        IoPgtableConfig.AppleDart2(16384, 40),
        IoPgtableConfig.AppleDart2(16384, 42),
    };

    [Theory]
    [MemberData(nameof(SelfTestConfigs))]
    public void Dart_passes_the_io_pgtable_self_test_sequence(IoPgtableConfig config)
    {
        var kit = new PageTableKit();
        var table = kit.Table(config);
        var size = config.PgsizeBitmap;
        var step = 1UL << (config.Ias - 2); // four distinct regions of the input space
        Assert.Equal(0UL, table.IovaToPhys(42));
        Assert.Equal(0UL, table.IovaToPhys(step + 42));

        for (ulong i = 0; i < 4; i++)
        {
            var iova = i * step;
            Assert.Equal(IoPgtableStatus.Ok, table.Map(iova, iova, size, Rw | IommuProt.NoExec | IommuProt.Cache));
            Assert.Equal(IoPgtableStatus.Exists, table.Map(iova, iova + size, size, IommuProt.Read | IommuProt.NoExec));
            Assert.Equal(iova + 42, table.IovaToPhys(iova + 42));
        }

        Assert.Equal(IoPgtableStatus.Ok, table.Map(step + size, step + size, size, Rw));
        Assert.Equal(size, table.Unmap(step + size, size)); // partial unmap
        Assert.Equal(0UL, table.IovaToPhys(step + size + 42));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(step + size, size, size, IommuProt.Read)); // remap elsewhere
        Assert.Equal(size + 42, table.IovaToPhys(step + size + 42));

        for (ulong i = 0; i < 4; i++)
        {
            var iova = i * step;
            Assert.Equal(size, table.Unmap(iova, size));
            Assert.Equal(0UL, table.IovaToPhys(iova + 42));
            Assert.Equal(IoPgtableStatus.Ok, table.Map(iova, iova, size, IommuProt.Write));
            Assert.Equal(iova + 42, table.IovaToPhys(iova + 42));
        }

        table.Free();
        Assert.Equal(0, kit.Allocator.BlocksInUse);
    }

    [Fact]
    public void Dart2_accepts_4k_pages_but_its_encoding_cannot_hold_physical_address_bit_12()
    {
        // The kernel allows either page size for either format; DART2's PA >> 4 field starts at bit 10 (PA bit 14).
        var kit = new PageTableKit();
        var dart = kit.Table(IoPgtableConfig.AppleDart2(4096, 32, 36)).Dart!;
        Assert.Equal(0x4000UL, dart.PteToPaddr(dart.PaddrToPte(0x5000)));
        Assert.Equal(0x8000UL, dart.PteToPaddr(dart.PaddrToPte(0x8000)));
    }

    [Fact]
    public void Dart_map_pages_stops_at_the_end_of_a_leaf_table_and_iommu_map_continues()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.AppleDart(4096, 32));
        var iova = 0x1FE000UL; // two pages before the 2 MiB boundary of one L2 table
        Assert.Equal(IoPgtableStatus.Ok, table.Ops.MapPages(iova, 0x1000_0000, 4096, 4, Rw, out var mapped));
        Assert.Equal(0x2000UL, mapped);
        Assert.Equal(0UL, table.IovaToPhys(0x200000));
        Assert.Equal(0x2000UL, table.Unmap(iova, 0x2000));

        Assert.Equal(IoPgtableStatus.Ok, table.Map(iova, 0x1000_0000, 0x4000, Rw));
        Assert.Equal(0x1000_3000UL, table.IovaToPhys(0x201000));
        Assert.Equal(0x4000UL, table.Unmap(iova, 0x4000));
    }

    [Fact]
    public void Dart_map_errors_are_the_kernels_errno_values()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.AppleDart(4096, 32));
        Assert.Equal(IoPgtableStatus.Invalid, table.Map(0x800, 0, 0x1000, Rw));
        Assert.Equal(IoPgtableStatus.Invalid, table.Map(0, 0, 0x1000, IommuProt.Cache));
        Assert.Equal(IoPgtableStatus.OutOfRange, table.Map(0, 1UL << 36, 0x1000, Rw));
        Assert.Equal(IoPgtableStatus.Invalid, table.Ops.MapPages(0, 0, 16384, 1, Rw, out _));
        Assert.Equal(-22, (int)IoPgtableStatus.Invalid);
        Assert.Equal(-17, (int)IoPgtableStatus.Exists);
    }

    [Fact]
    public void Dart_v6_18_refuses_an_iova_above_the_last_ttbr_with_enomem()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.AppleDart(4096, 32));
        Assert.Equal(IoPgtableStatus.NoMemory, table.Map(1UL << 32, 0x1000, 0x1000, Rw));
        Assert.Equal(0UL, table.IovaToPhys(1UL << 32));
    }

    [Fact]
    public void Before_v6_18_an_iova_above_the_input_range_aliases_a_low_one()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.AppleDart(4096, 32) with { DartVariableLevels = false });
        Assert.Equal(IoPgtableStatus.Ok, table.Map(1UL << 32, 0x5000, 0x1000, Rw));
        Assert.Equal(0x5000UL, table.IovaToPhys(0));
    }

    [Fact]
    public void Dart_unmap_stops_at_a_hole_and_returns_the_bytes_unmapped()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.AppleDart(4096, 32));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x10000, 0x20000, 0x3000, Rw));
        Assert.Equal(0x3000UL, table.Unmap(0x10000, 0x5000));
        Assert.Equal(0UL, table.Unmap(0x10000, 0x1000));
        Assert.Equal(0UL, table.Unmap(0x7000_0000, 0x1000)); // no leaf table at all
    }

    [Fact]
    public void Dart_map_across_a_leaf_table_boundary_that_cannot_get_a_second_table_leaves_nothing_mapped()
    {
        var kit = new PageTableKit(tableRegionSize: 0x5000);
        var table = kit.Table(IoPgtableConfig.AppleDart(4096, 32));
        Assert.Equal(IoPgtableStatus.NoMemory, table.Map(0x1FF000, 0x1000_0000, 0x2000, Rw));
        Assert.Equal(0UL, table.IovaToPhys(0x1FF000));
    }
}
