using IommuLab.Model.PageTables;

namespace IommuLab.Tests.PageTables;

public sealed class HardwareWalkerTests
{
    private const IommuProt Rw = PageTableKit.Rw;

    public static TheoryData<string, IoPgtableConfig> Formats() => new()
    {
        { "dart1-4k", IoPgtableConfig.AppleDart(4096, 32) },
        { "dart1-16k", IoPgtableConfig.AppleDart(16384, 32) },
        { "dart2-16k-36", IoPgtableConfig.AppleDart2(16384, 36) },
        { "dart2-16k-42", IoPgtableConfig.AppleDart2(16384, 42) },
        { "lpae-4k-48", IoPgtableConfig.ArmLpaeS1(4096 | (2UL << 20) | (1UL << 30), 48, 48) },
        { "lpae-16k-36", IoPgtableConfig.ArmLpaeS1(16384 | (32UL << 20), 36, 40) with { CpuPageSize = 16384 } },
        { "lpae-64k-42", IoPgtableConfig.ArmLpaeS1(65536 | (512UL << 20), 42, 44) with { CpuPageSize = 65536 } },
    };

    [Theory]
    [MemberData(nameof(Formats))]
    public void Walker_and_iova_to_phys_agree_with_a_reference_map_after_random_maps_and_unmaps(string name, IoPgtableConfig config)
    {
        var kit = new PageTableKit(memorySize: 1UL << 36);
        var table = kit.Table(config);
        var walker = PageTableKit.WalkerFor(table);
        var page = table.MinPageSize;
        var reference = new Dictionary<ulong, ulong>();
        var random = new Random(name.Length * 7919 + config.Ias);

        ulong RandomIova() => (ulong)random.NextInt64(0, 2048) * page
            + (random.Next(4) == 0 ? (ulong)random.NextInt64(0, 1L << (table.Ias - 1)) & ~(page - 1) : 0);

        for (var op = 0; op < 400; op++)
        {
            var iova = RandomIova() & ((1UL << table.Ias) - 1);
            var pages = (ulong)random.Next(1, 9);
            if (iova + pages * page > 1UL << table.Ias)
            {
                continue;
            }

            if (random.Next(10) < 6)
            {
                var paddr = (ulong)random.NextInt64(0, 1L << 20) * page % (1UL << 35);
                var overlap = Enumerable.Range(0, (int)pages).Any(i => reference.ContainsKey(iova + (ulong)i * page));
                var prot = random.Next(3) switch { 0 => IommuProt.Read, 1 => IommuProt.Write, _ => Rw };
                var status = table.Map(iova, paddr, pages * page, prot);
                Assert.Equal(overlap ? IoPgtableStatus.Exists : IoPgtableStatus.Ok, status);
                if (!overlap)
                {
                    for (ulong i = 0; i < pages; i++)
                    {
                        reference[iova + i * page] = paddr + i * page;
                    }
                }
            }
            else if (reference.Count > 0)
            {
                var start = reference.Keys.ElementAt(random.Next(reference.Count));
                var want = (ulong)random.Next(1, 5);
                ulong expected = 0;
                while (expected < want && reference.ContainsKey(start + expected * page))
                {
                    expected++;
                }

                Assert.Equal(expected * page, table.Unmap(start, want * page));
                for (ulong i = 0; i < expected; i++)
                {
                    reference.Remove(start + i * page);
                }
            }
        }

        Assert.NotEmpty(reference);
        foreach (var (iova, paddr) in reference)
        {
            var offset = (ulong)random.NextInt64(0, (long)page);
            Assert.Equal(paddr + offset, table.IovaToPhys(iova + offset));
            var read = HardwareWalker.Translate(kit.Memory, walker, iova + offset, DmaAccess.Read);
            var write = HardwareWalker.Translate(kit.Memory, walker, iova + offset, DmaAccess.Write);
            Assert.True(read.Translated || read.Fault == WalkFaultKind.Permission, $"{name} 0x{iova:x}: {read}");
            Assert.True(write.Translated || write.Fault == WalkFaultKind.Permission, $"{name} 0x{iova:x}: {write}");
            Assert.True(read.Translated || write.Translated);
            Assert.Equal(paddr + offset, read.Translated ? read.PhysicalAddress : write.PhysicalAddress);
        }

        for (var probe = 0; probe < 200; probe++)
        {
            var iova = RandomIova() & ((1UL << table.Ias) - 1);
            if (reference.ContainsKey(iova))
            {
                continue;
            }

            Assert.Equal(0UL, table.IovaToPhys(iova));
            var result = HardwareWalker.Translate(kit.Memory, walker, iova, DmaAccess.Read);
            Assert.Equal(WalkFaultKind.Translation, result.Fault);
        }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Walker_faults_but_never_throws_on_tables_full_of_garbage(string name, IoPgtableConfig config)
    {
        var kit = new PageTableKit(memorySize: 1UL << 35);
        var table = kit.Table(config);
        var walker = PageTableKit.WalkerFor(table);
        // string.GetHashCode is randomised per process; the seed must not be.
        var random = new Random(name.Aggregate(17, (h, c) => unchecked(h * 31 + c)));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0, 0x10_0000, 16 * table.MinPageSize, Rw));

        foreach (var root in table.Ttbrs)
        {
            for (ulong i = 0; i < table.MinPageSize / 8; i++)
            {
                // Valid-looking entries: half are raw noise (mostly beyond the output size), half
                // keep their address inside the output size but beyond the 32 GiB of memory.
                var entry = (ulong)random.NextInt64();
                if (i % 2 == 0)
                {
                    entry = (entry & ~0xFFFF_FFFF_F000UL) | ((entry & ((1UL << config.Oas) - 1) & ~0xFFFUL) | (1UL << 35));
                }

                kit.Memory.WriteU64(root + i * 8, entry | 1 | (random.Next(2) == 0 ? 3UL : 0));
            }
        }

        var kinds = new HashSet<WalkFaultKind>();
        for (var probe = 0; probe < 2000; probe++)
        {
            var iova = (ulong)random.NextInt64() & ((1UL << table.Ias) - 1);
            var result = HardwareWalker.Translate(kit.Memory, walker, iova, probe % 2 == 0 ? DmaAccess.Read : DmaAccess.Write);
            Assert.True(!result.Translated || kit.Memory.Contains(result.PhysicalAddress, 1), result.ToString());
            kinds.Add(result.Fault);
        }

        Assert.Contains(WalkFaultKind.WalkExternalAbort, kinds);
    }

    [Fact]
    public void Dart_stream_without_valid_ttbrs_faults_with_no_ttbr()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.AppleDart(16384, 32));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0, 0x10_0000, 0x4000, Rw));
        var cleared = new DartWalkerConfig(IoPgtableFormat.AppleDart, 16384, 3, DartTtbrEncoding.T8020, [0, 0, 0, 0]);
        var result = HardwareWalker.Translate(kit.Memory, cleared, 0, DmaAccess.Read);
        Assert.Equal((WalkFaultKind.BadTtbr, 3), (result.Fault, result.Level));
        Assert.Equal("NO TTBR FOR IOVA", result.DartErrorName(3));
        Assert.True(HardwareWalker.Translate(kit.Memory, PageTableKit.WalkerFor(table), 0, DmaAccess.Read).Translated);
    }

    [Fact]
    public void Dart_iova_above_the_streams_ttbrs_faults_with_no_ttbr()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.AppleDart2(16384, 36));
        var walker = DartWalkerConfig.ForTable(table, DartTtbrEncoding.T8110, 1);
        Assert.Equal(WalkFaultKind.BadTtbr, HardwareWalker.Translate(kit.Memory, walker, 1UL << 36, DmaAccess.Read).Fault);
    }

    [Fact]
    public void Dart_unmapped_iova_faults_at_the_level_apple_dart_names()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.AppleDart2(16384, 42));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0, 0x10_0000, 0x4000, Rw));
        var walker = PageTableKit.WalkerFor(table);

        var noPte = HardwareWalker.Translate(kit.Memory, walker, 0x4000, DmaAccess.Read);
        var noPmd = HardwareWalker.Translate(kit.Memory, walker, 1UL << 25, DmaAccess.Read);
        var noPgd = HardwareWalker.Translate(kit.Memory, walker, 1UL << 36, DmaAccess.Read);
        Assert.Equal(("NO PTE FOR IOVA", "NO PMD FOR IOVA", "NO PGD FOR IOVA"),
            (noPte.DartErrorName(4), noPmd.DartErrorName(4), noPgd.DartErrorName(4)));
        Assert.Equal((1, 2, 3), (noPte.Level, noPmd.Level, noPgd.Level));
    }

    [Theory]
    [InlineData(IoPgtableFormat.AppleDart)]
    [InlineData(IoPgtableFormat.AppleDart2)]
    public void Dart_write_to_a_read_only_page_and_read_of_a_write_only_page_are_permission_faults(IoPgtableFormat format)
    {
        var kit = new PageTableKit();
        var config = format == IoPgtableFormat.AppleDart ? IoPgtableConfig.AppleDart(16384, 32) : IoPgtableConfig.AppleDart2(16384, 32);
        var table = kit.Table(config);
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0, 0x10_0000, 0x4000, IommuProt.Read));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x4000, 0x20_0000, 0x4000, IommuProt.Write));
        var walker = PageTableKit.WalkerFor(table);
        Assert.Equal(0x10_0010UL, HardwareWalker.Translate(kit.Memory, walker, 0x10, DmaAccess.Read).PhysicalAddress);
        Assert.Equal(WalkFaultKind.Permission, HardwareWalker.Translate(kit.Memory, walker, 0x10, DmaAccess.Write).Fault);
        Assert.Equal(0x20_0010UL, HardwareWalker.Translate(kit.Memory, walker, 0x4010, DmaAccess.Write).PhysicalAddress);
        Assert.Equal(WalkFaultKind.Permission, HardwareWalker.Translate(kit.Memory, walker, 0x4010, DmaAccess.Read).Fault);
    }

    [Fact]
    public void Dart_table_entry_pointing_outside_memory_is_a_walk_abort_not_a_crash()
    {
        var kit = new PageTableKit(memorySize: 1UL << 35);
        var table = kit.Table(IoPgtableConfig.AppleDart(16384, 32));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0, 0x10_0000, 0x4000, Rw));
        kit.Memory.WriteU64(table.Ttbrs[0], 0xF_0000_0000UL | DartPageTable.PteValid); // 60 GiB: beyond 32 GiB of RAM
        var result = HardwareWalker.Translate(kit.Memory, PageTableKit.WalkerFor(table), 0x10, DmaAccess.Read);
        Assert.Equal((WalkFaultKind.WalkExternalAbort, 1), (result.Fault, result.Level));
        Assert.Equal(0UL, table.IovaToPhys(0x10));
        Assert.Equal(0UL, table.Unmap(0, 0x4000));
    }

    [Fact]
    public void Dart_leaf_pointing_outside_memory_translates_to_an_access_abort()
    {
        var kit = new PageTableKit(memorySize: 1UL << 35);
        var table = kit.Table(IoPgtableConfig.AppleDart(16384, 32));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0, 0xF_0000_0000, 0x4000, Rw));
        var result = HardwareWalker.Translate(kit.Memory, PageTableKit.WalkerFor(table), 0, DmaAccess.Read);
        Assert.Equal(WalkFaultKind.OutputOutsideMemory, result.Fault);
    }

    [Fact]
    public void Dart_ttbr_register_pointing_outside_memory_is_a_walk_abort()
    {
        var kit = new PageTableKit(memorySize: 1UL << 35);
        var walker = new DartWalkerConfig(IoPgtableFormat.AppleDart, 16384, 3, DartTtbrEncoding.T8020,
            [DartTtbrEncoding.T8020.Encode(0x40_0000_0000)]);
        Assert.Equal(WalkFaultKind.WalkExternalAbort, HardwareWalker.Translate(kit.Memory, walker, 0, DmaAccess.Read).Fault);
    }

    [Fact]
    public void Dart_ttbr_encodings_match_the_t8020_and_t8110_register_layouts()
    {
        Assert.Equal(0x8080_0004U, DartTtbrEncoding.T8020.Encode(0x8_0000_4000));
        Assert.Equal(0x0080_0005U, DartTtbrEncoding.T8110.Encode(0x8_0000_4000));
        Assert.Equal(0x8_0000_4000UL, DartTtbrEncoding.T8110.Decode(0x0080_0005));
        Assert.Equal(0x8_0000_4000UL, DartTtbrEncoding.T8020.Decode(0x8080_0004));
        Assert.False(DartTtbrEncoding.T8110.TryEncode(0x8_0000_1000, out _)); // t8110 needs 16 KiB alignment
        Assert.False(DartTtbrEncoding.T8020.IsValid(0x0080_0004));
    }

    [Fact]
    public void Lpae_write_to_a_read_only_page_is_a_permission_fault_at_level_3()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.ArmLpaeS1(4096, 48, 48));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x1000, 0x8000, 0x1000, IommuProt.Read));
        var result = HardwareWalker.Translate(kit.Memory, PageTableKit.WalkerFor(table), 0x1008, DmaAccess.Write);
        Assert.Equal((WalkFaultKind.Permission, 3), (result.Fault, result.Level));
        Assert.Equal(0x8008UL, HardwareWalker.Translate(kit.Memory, PageTableKit.WalkerFor(table), 0x1008, DmaAccess.Read).PhysicalAddress);
    }

    [Fact]
    public void Lpae_malformed_descriptors_give_the_architectural_faults()
    {
        var kit = new PageTableKit(memorySize: 1UL << 36);
        var table = kit.Table(IoPgtableConfig.ArmLpaeS1(4096, 48, 40));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x1000, 0x8000, 0x1000, Rw));
        var walker = PageTableKit.WalkerFor(table);
        var l3 = ArmLpaePageTableTests.Descriptor(kit, table, 0x1000, 2) & ArmLpaePageTable.AddressMask;
        var l2Entry = ArmLpaePageTableTests.Descriptor(kit, table, 0x1000, 1) & ArmLpaePageTable.AddressMask;
        var leaf = kit.Memory.ReadU64(l3 + 8);

        kit.Memory.WriteU64(l3 + 8, leaf & ~ArmLpaePageTable.AccessFlag);
        Assert.Equal(WalkFaultKind.AccessFlag, HardwareWalker.Translate(kit.Memory, walker, 0x1000, DmaAccess.Read).Fault);

        kit.Memory.WriteU64(l3 + 8, (leaf & ~3UL) | 1); // block type where only pages exist
        Assert.Equal(WalkFaultKind.Translation, HardwareWalker.Translate(kit.Memory, walker, 0x1000, DmaAccess.Read).Fault);

        kit.Memory.WriteU64(l3 + 8, (leaf & ~ArmLpaePageTable.AddressMask) | (1UL << 44));
        Assert.Equal((WalkFaultKind.AddressSize, 3), Fault(kit, walker, 0x1000));

        kit.Memory.WriteU64(l3 + 8, (leaf & ~ArmLpaePageTable.AddressMask) | 0xF0_0000_0000);
        Assert.Equal((WalkFaultKind.OutputOutsideMemory, 3), Fault(kit, walker, 0x1000));

        kit.Memory.WriteU64(l2Entry, 0xE0_0000_0000 | 3); // table beyond 64 GiB of RAM, inside 40 bits
        Assert.Equal((WalkFaultKind.WalkExternalAbort, 3), Fault(kit, walker, 0x1000));

        var l0 = table.Lpae!.Pgd;
        kit.Memory.WriteU64(l0, 0x4000_0000 | 0x401); // a block at level 0 does not exist with 4K pages
        Assert.Equal((WalkFaultKind.Translation, 0), Fault(kit, walker, 0x1000));
    }

    [Fact]
    public void Lpae_context_with_walks_disabled_or_iova_beyond_ias_faults()
    {
        var kit = new PageTableKit();
        var table = kit.Table(IoPgtableConfig.ArmLpaeS1(4096, 39, 40));
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0, 0x8000, 0x1000, Rw));
        var walker = LpaeWalkerConfig.ForTable(table);
        Assert.Equal(WalkFaultKind.BadTtbr, HardwareWalker.Translate(kit.Memory, walker with { WalksEnabled = false }, 0, DmaAccess.Read).Fault);
        Assert.Equal(WalkFaultKind.Translation, HardwareWalker.Translate(kit.Memory, walker, 1UL << 39, DmaAccess.Read).Fault);
        Assert.Equal(WalkFaultKind.AddressSize, HardwareWalker.Translate(kit.Memory, walker with { Ttbr = 1UL << 41 }, 0, DmaAccess.Read).Fault);
        Assert.True(HardwareWalker.Translate(kit.Memory, walker, 0, DmaAccess.Read).Translated);
    }

    private static (WalkFaultKind, int) Fault(PageTableKit kit, WalkerConfig walker, ulong iova)
    {
        var result = HardwareWalker.Translate(kit.Memory, walker, iova, DmaAccess.Read);
        return (result.Fault, result.Level);
    }
}
