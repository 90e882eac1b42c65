using IommuLab.Model.Hardware;
using IommuLab.Model.Kernel;
using IommuLab.Model.PageTables;

namespace IommuLab.Tests.Dma;

/// <summary>The register models on their own: encodings, reset state, blocked streams and malformed tables.</summary>
public sealed class HardwareModelTests
{
    private const ulong TableBase = 0x8_1000_0000;

    private static readonly DartHardware T8103 = new("t8103", 36, 32, 16384, 16, true, false, 4, []);

    private static (PhysicalMemory Memory, TablePageAllocator Tables) Ram()
    {
        var memory = new PhysicalMemory(1UL << 36);
        return (memory, new TablePageAllocator(memory, TableBase, TableBase + 0x100_0000));
    }

    [Fact]
    public void Dart_streams_reset_to_disabled_and_say_translation_was_never_enabled()
    {
        var (memory, _) = Ram();
        var dart = new DartRegisters("dart", T8103);
        var a = dart.Access(memory, 3, 0x1000, DmaAccess.Read);
        Assert.Equal(StreamTranslation.Disabled, a.Mode);
        Assert.Equal(WalkFaultKind.StreamDisabled, a.Fault);
        Assert.Equal("translation never enabled", a.Detail);
    }

    [Fact]
    public void A_blocked_dart_stream_writes_the_disabled_tcr_and_refuses_access_even_with_valid_ttbrs()
    {
        var (memory, tables) = Ram();
        var table = IoPageTable.Allocate(IoPgtableConfig.AppleDart(16384, 32), tables, out _)!;
        Assert.Equal(IoPgtableStatus.Ok, table.Map(0x4000, 0x9_0000_0000, 0x4000, IommuProt.Read));
        var dart = new DartRegisters("dart", T8103);
        dart.EnableTranslation(2, table);
        Assert.Equal(0x9_0000_0010UL, dart.Access(memory, 2, 0x4010, DmaAccess.Read).PhysicalAddress);
        dart.DisableDma(2);
        Assert.Equal(0u, dart.Tcr(2));
        Assert.NotEqual(0u, dart.Ttbr(2, 0));
        var a = dart.Access(memory, 2, 0x4010, DmaAccess.Read);
        Assert.Equal(StreamTranslation.Disabled, a.Mode);
        Assert.Equal("TCR disables the stream", a.Detail);
    }

    [Fact]
    public void Dart_translation_writes_encoded_ttbrs_and_clears_the_rest_and_faults_name_the_dart_error()
    {
        var (memory, tables) = Ram();
        var table = IoPageTable.Allocate(IoPgtableConfig.AppleDart(16384, 32), tables, out _)!;
        var dart = new DartRegisters("dart", T8103);
        dart.EnableTranslation(0, table);
        Assert.Equal((1U << 31) | (uint)(table.Ttbrs[0] >> 12), dart.Ttbr(0, 0));
        Assert.Equal([0u, 0u, 0u], dart.Ttbrs(0).Skip(1));
        var write = dart.Access(memory, 0, 0x8000, DmaAccess.Write);
        Assert.Equal(WalkFaultKind.Translation, write.Fault);
        Assert.EndsWith("NO PMD FOR IOVA", write.Detail, StringComparison.Ordinal);

        table.Map(0x8000, 0x9_0000_0000, 0x4000, IommuProt.Read);
        Assert.Equal(WalkFaultKind.Permission, dart.Access(memory, 0, 0x8000, DmaAccess.Write).Fault);
    }

    [Fact]
    public void T8110_dart_uses_its_own_tcr_bits_and_ttbr_encoding()
    {
        var (memory, tables) = Ram();
        var hw = new DartHardware("t8110", 36, 36, 16384, 256, true, false, 1, []);
        var layout = DartRegisterLayout.For(hw);
        Assert.Equal(IoPgtableFormat.AppleDart2, layout.Format);
        var table = IoPageTable.Allocate(layout.PgtableConfig(hw), tables, out _)!;
        table.Map(0x1_0000_0000, 0x9_0000_0000, 0x4000, IommuProt.Read | IommuProt.Write);
        var dart = new DartRegisters("dart", hw);
        dart.EnableTranslation(200, table);
        Assert.Equal(1u, dart.Tcr(200));
        Assert.Equal(DartTtbrEncoding.T8110.Encode(table.Ttbrs[0]), dart.Ttbr(200, 0));
        Assert.Equal(0x9_0000_0040UL, dart.Access(memory, 200, 0x1_0000_0040, DmaAccess.Write).PhysicalAddress);
        dart.EnableBypass(200);
        Assert.Equal(0b110u, dart.Tcr(200));
        Assert.Equal(StreamTranslation.Bypass, dart.Access(memory, 200, 0x1234, DmaAccess.Read).Mode);
    }

    /// <summary>A table whose PTE points outside memory gives a fault, never an exception.</summary>
    [Fact]
    public void A_malformed_table_behind_a_valid_ttbr_faults_instead_of_crashing()
    {
        var memory = new PhysicalMemory(1UL << 34);
        var tables = new TablePageAllocator(memory, 0x10_0000, 0x110_0000);
        var table = IoPageTable.Allocate(IoPgtableConfig.AppleDart(16384, 32), tables, out _)!;
        var dart = new DartRegisters("dart", T8103);
        dart.EnableTranslation(1, table);

        // A valid entry for IOVA 0 whose next table is at 0xF_FFFF_C000: beyond this 16 GiB memory.
        memory.WriteU64(table.Ttbrs[0], 0x0000_000F_FFFF_C000UL | DartPageTable.PteValid);
        var a = dart.Access(memory, 1, 0x10, DmaAccess.Read);
        Assert.Equal(StreamTranslation.Translate, a.Mode);
        Assert.Equal(WalkFaultKind.WalkExternalAbort, a.Fault);
        Assert.Null(a.PhysicalAddress);
    }

    [Fact]
    public void Smmu_v3_stream_table_starts_invalid_then_abort_bypass_and_translate_stes_behave()
    {
        var (memory, tables) = Ram();
        var smmu = new SmmuV3Hardware(tables, 256);
        Assert.Equal("STE invalid (C_BAD_STE): translation never enabled", smmu.Access(memory, 5, 0x1000, DmaAccess.Read).Detail);
        smmu.WriteAbortSte(5);
        Assert.Equal("STE aborts", smmu.Access(memory, 5, 0x1000, DmaAccess.Read).Detail);
        smmu.WriteBypassSte(5);
        Assert.Equal(0x1000UL, smmu.Access(memory, 5, 0x1000, DmaAccess.Read).PhysicalAddress);

        var table = IoPageTable.Allocate(IoPgtableConfig.ArmLpaeS1(0x1000 | 0x20_0000 | 0x4000_0000, 48, 48), tables, out _)!;
        table.Map(0x7000, 0x9_0000_0000, 0x1000, IommuProt.Read);
        smmu.WriteTranslateSte(5, table, 7);
        Assert.Equal(0x9_0000_0008UL, smmu.Access(memory, 5, 0x7008, DmaAccess.Read).PhysicalAddress);
        Assert.Equal(WalkFaultKind.Permission, smmu.Access(memory, 5, 0x7008, DmaAccess.Write).Fault);
        Assert.Equal(WalkFaultKind.Translation, smmu.Access(memory, 5, 0x8000, DmaAccess.Read).Fault);
        Assert.Equal(StreamTranslation.Disabled, smmu.Access(memory, 300, 0x7008, DmaAccess.Read).Mode);
    }

    [Fact]
    public void Arm_smmu_routes_masked_stream_ids_through_smr_and_s2cr_and_faults_unmatched_streams()
    {
        var (memory, tables) = Ram();
        var smmu = new ArmSmmuHardware();
        var table = IoPageTable.Allocate(IoPgtableConfig.ArmLpaeS1(0x1000 | 0x20_0000 | 0x4000_0000, 48, 48), tables, out _)!;
        table.Map(0x2000, 0x9_0000_1000, 0x1000, IommuProt.Read | IommuProt.Write);
        // fwid = SID 0x40 | mask 0x3 << 16: streams 0x40-0x43 share the entry.
        Assert.True(smmu.AttachTranslate(0x40 | (0x3u << 16), 1, table));
        Assert.Equal(0x9_0000_1010UL, smmu.Access(memory, 0x43, 0x2010, DmaAccess.Read).PhysicalAddress);
        Assert.StartsWith("no SMR matches", smmu.Access(memory, 0x44, 0x2010, DmaAccess.Read).Detail, StringComparison.Ordinal);
        Assert.True(smmu.AttachFault(0x40 | (0x3u << 16)));
        Assert.Equal(StreamTranslation.Disabled, smmu.Access(memory, 0x41, 0x2010, DmaAccess.Read).Mode);
        Assert.True(smmu.AttachBypass(0x50));
        Assert.Equal(0x2010UL, smmu.Access(memory, 0x50, 0x2010, DmaAccess.Read).PhysicalAddress);
    }
}
