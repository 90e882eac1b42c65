using System.Buffers.Binary;
using IommuLab.Firmware;
using IommuLab.Firmware.Acpi;
using IommuLab.Firmware.Acpi.Iort;
using IommuLab.Firmware.Topology;

namespace IommuLab.Tests.Acpi;

public sealed class IortReaderTests
{
    private const string Src = "test.iort";

    /// <summary>ITS, NC (name of 14 bytes), RC, SMMUv1/v2, SMMUv3, PMCG, RMR, IWB: every node type.</summary>
    internal static (IortBuilder Builder, byte[] Bytes) AllTypes(byte revision = 5)
    {
        var b = new IortBuilder(revision);
        var its = b.Add(0, 1, IortBuilder.Its(7, 9));
        var smmu = b.Add(3, 3, IortBuilder.Smmu(0x1500_0000, 3, 200, 201, 202));
        var smmu3 = b.Add(4, 5, IortBuilder.SmmuV3(0x0900_0000, model: 0, flags: 0x11, deviceIdIndex: 0),
            Map.Single(0x40, its), new Map(0, 0xffff, 0x10000, its));
        b.Add(1, 4, IortBuilder.NamedComponent(@"\_SB.GPU0.AVS", 44, flags: 0b1011),
            Map.Single(0x11, smmu), Map.Single(0x22, smmu3), new Map(0x100, 0xf, 0x500, smmu));
        b.Add(2, 4, IortBuilder.RootComplex(segment: 2, ats: 1, memoryLimit: 64), new Map(0, 0xffff, 0, smmu3));
        b.Add(5, 2, IortBuilder.Pmcg(0x0910_0000, 0, b.OffsetOf(smmu3), 0x0911_0000), Map.Single(0x77, its));
        b.Add(6, 3, IortBuilder.Rmr(1 | (5 << 2), (0x8000_0000, 0x10000), (0x9000_0000, 0x20000)), new Map(0x30, 0, 0x30, smmu3));
        b.Add(7, 0, IortBuilder.Iwb(0x0a00_0000, 3, @"\_SB.IWB0"), new Map(0, 31, 0x2000, its));
        return (b, b.Build());
    }

    private static IortTable Load(byte[] bytes) => Assert.IsType<IortTable>(AcpiTable.Load(bytes, Src));

    private static AcpiFormatException Fails(byte[] bytes, AcpiTableError kind, long offset)
    {
        var e = Assert.Throws<AcpiFormatException>(() => AcpiTable.Load(bytes, Src));
        Assert.Equal(kind, e.Kind);
        Assert.Equal(offset, e.Offset);
        Assert.StartsWith($"{Src}: offset 0x{offset:x}: expected ", e.Message);
        Assert.IsAssignableFrom<FirmwareFormatException>(e);
        return e;
    }

    [Fact]
    public void Every_node_type_decodes_with_its_own_fields()
    {
        var (b, bytes) = AllTypes();
        var t = Load(bytes);
        Assert.True(t.Header.ChecksumValid);
        Assert.Empty(t.Problems);
        Assert.Equal(Enumerable.Range(0, 8).Select(i => (IortNodeType)i).OrderBy(x => x), t.Nodes.Select(n => n.Type).OrderBy(x => x));

        var its = Assert.IsType<IortItsGroup>(t.Nodes[0]);
        Assert.Equal([7u, 9u], its.ItsIdentifiers);

        var smmu = Assert.IsType<IortSmmu>(t.Nodes[1]);
        Assert.Equal(0x1500_0000ul, smmu.BaseAddress);
        Assert.Equal(IortSmmuModel.CoreLinkMmu500, smmu.KnownModel);
        Assert.True(smmu.CoherentWalk);
        Assert.Equal([200u, 201u, 202u], smmu.ContextInterrupts.Select(i => i.Gsiv));
        Assert.Equal(100u, smmu.GlobalInterrupt.Gsiv);

        var s3 = Assert.IsType<IortSmmuV3>(t.Nodes[2]);
        Assert.Equal(IortSmmuV3Model.Generic, s3.KnownModel);
        Assert.True(s3.CohAccOverride);
        Assert.True(s3.DeviceIdValid);
        Assert.Equal(0u, s3.DeviceIdMappingIndex);
        Assert.Equal(0, s3.EffectiveDeviceIdMappingIndex);

        var nc = Assert.IsType<IortNamedComponent>(t.Nodes[3]);
        Assert.Equal(@"\_SB.GPU0.AVS", nc.ObjectName);
        Assert.NotEqual(0, nc.Header.Length % 4);
        Assert.Equal(44, nc.MemoryAddressLimit);
        Assert.True(nc.StallSupported);
        Assert.Equal(5u, nc.PasidBits);
        Assert.Equal([true, true, false], nc.Mappings.Select(m => m.SingleMapping));
        Assert.Equal(16ul, nc.Mappings[2].NumberOfIds);
        Assert.Equal(0x10ful, nc.Mappings[2].InputLast);

        var rc = Assert.IsType<IortRootComplex>(t.Nodes[4]);
        Assert.Equal(2u, rc.PciSegment);
        Assert.True(rc.AtsSupported);
        Assert.Equal((byte)64, rc.MemoryAddressLimit);
        Assert.Equal((ushort)0, rc.PasidCapabilities);
        Assert.Null(rc.RcFlags); // the 36-byte fixed part has no room for the flags word
        Assert.True(rc.Memory.Coherent);

        var pmcg = Assert.IsType<IortPmcg>(t.Nodes[5]);
        Assert.Equal(b.OffsetOf(2), pmcg.NodeReference);
        Assert.Equal(0x0911_0000ul, pmcg.Page1BaseAddress);
        Assert.Equal(0, pmcg.EffectiveDeviceIdMappingIndex);

        var rmr = Assert.IsType<IortRmr>(t.Nodes[6]);
        Assert.True(rmr.RemappingPermitted);
        Assert.Equal(5u, rmr.AccessAttributes);
        Assert.Equal([(0x8000_0000ul, 0x10000ul), (0x9000_0000ul, 0x20000ul)], rmr.Ranges.Select(r => (r.BaseAddress, r.Length)));

        var iwb = Assert.IsType<IortIwb>(t.Nodes[7]);
        Assert.Equal((ushort)3, iwb.IwbIndex);
        Assert.Equal(@"\_SB.IWB0", iwb.ObjectName);

        Assert.Same(nc, t.FindNamedComponent(@"\_SB.GPU0.AVS"));
        Assert.Null(t.FindNamedComponent(@"\_SB.GPU0.avs"));
        Assert.Same(rc, t.FindRootComplex(2));
        Assert.Equal([smmu, (IortNode)s3], t.Iommus);
    }

    [Fact]
    public void Revision_dependent_fields_are_absent_in_old_nodes()
    {
        var b = new IortBuilder(0);
        var its = b.Add(0, 0, IortBuilder.Its(0));
        b.Add(2, 0, IortBuilder.RootComplex(0, memoryLimit: 0), new Map(0, 0xff, 0, its));
        b.Add(5, 0, IortBuilder.Pmcg(1, 5, 0, 2), Map.Single(0, its));
        var t = Load(b.Build());
        var rc = Assert.IsType<IortRootComplex>(t.Nodes[1]);
        Assert.Null(rc.MemoryAddressLimit);
        Assert.Null(rc.PasidCapabilities);
        var pmcg = Assert.IsType<IortPmcg>(t.Nodes[2]);
        Assert.Null(pmcg.Page1BaseAddress);
        Assert.Null(pmcg.EffectiveDeviceIdMappingIndex); // an overflow GSIV: no MSI mapping index
        Assert.DoesNotContain(t.Problems, p => p.RuleId == AcpiRules.IortMissingMemoryLimit);
    }

    [Theory]
    [InlineData(0, 0u, 0u, null)] // node revision 0: no DeviceID mapping index
    [InlineData(3, 0u, 0u, 1)] // before E.e: valid unless every interrupt is a wired GSIV
    [InlineData(3, 0u, 40u, null)]
    [InlineData(5, 0u, 0u, null)] // E.e on: only with the DeviceID-valid flag
    [InlineData(5, 0x10u, 40u, 1)]
    public void Smmuv3_deviceid_mapping_index_follows_the_node_revision(byte nodeRevision, uint flags, uint gsiv, int? expected)
    {
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(0));
        b.Add(4, nodeRevision, IortBuilder.SmmuV3(0, flags: flags, deviceIdIndex: 1, gsiv: gsiv),
            new Map(0, 0xff, 0, its), new Map(0, 0, 0x99, its, 1));
        var s = Assert.IsType<IortSmmuV3>(Load(b.Build()).Nodes[1]);
        Assert.Equal(expected, s.EffectiveDeviceIdMappingIndex);
    }

    [Fact]
    public void A_deviceid_index_past_the_mappings_is_a_firmware_bug_linux_ignores()
    {
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(0));
        b.Add(4, 5, IortBuilder.SmmuV3(0, flags: 0x10, deviceIdIndex: 3), new Map(0, 0xff, 0, its));
        var t = Load(b.Build());
        Assert.Null(((IortSmmuV3)t.Nodes[1]).EffectiveDeviceIdMappingIndex);
        var p = Assert.Single(t.Problems);
        Assert.Equal(AcpiRules.IortDeviceIdIndexOverflow, p.RuleId);
        Assert.Contains("ID mapping index overflows valid mappings", p.KernelLog);
    }

    [Fact]
    public void A_bad_checksum_is_a_warning_with_the_line_linux_prints_and_the_table_still_loads()
    {
        var (_, good) = AllTypes();
        var bytes = (byte[])good.Clone();
        bytes[9] ^= 0x01;
        var t = Load(bytes);
        Assert.False(t.Header.ChecksumValid);
        Assert.Equal(good[9], t.Header.ExpectedChecksum);
        var p = Assert.Single(t.Problems);
        Assert.Equal(AcpiRules.BadChecksum, p.RuleId);
        Assert.Equal(ProblemSeverity.Warning, p.Severity);
        Assert.Equal(9, p.Offset);
        Assert.Equal($"ACPI BIOS Warning (bug): Incorrect checksum in table [IORT] - 0x{bytes[9]:X2}, should be 0x{good[9]:X2}", p.KernelLog);
        Assert.Equal(8, t.Nodes.Count);
    }

    [Fact]
    public void Tolerated_firmware_bugs_become_problems()
    {
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(0));
        var smmu = b.Add(3, 0, IortBuilder.Smmu(0, 1), Map.Single(5, its));
        b.Add(2, 1, IortBuilder.RootComplex(0), new Map(0, 0x100, 0, smmu), new Map(0x100, 0xff, 0x100, smmu));
        b.Add(2, 1, IortBuilder.RootComplex(0, memoryLimit: 0), new Map(0, 0, 0, 0, RawReference: 0));
        b.Add(1, 0, IortBuilder.NamedComponent("DEV", 0));
        b.Add(1, 0, IortBuilder.NamedComponent("DEV"));
        var bytes = b.Build();
        bytes = [.. bytes, 0, 0, 0, 0];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), (uint)bytes.Length);
        var t = Load(bytes);
        Assert.Equal(
            [AcpiRules.BadChecksum, AcpiRules.IortTrailingBytes, AcpiRules.IortNullOutputReference, AcpiRules.IortSingleMappingRefused,
             AcpiRules.IortEndOfRangeOverlap, AcpiRules.IortDuplicateSegment, AcpiRules.IortMissingMemoryLimit, AcpiRules.IortDuplicateName],
            t.Problems.Select(p => p.RuleId));
    }

    [Fact]
    public void Unknown_node_types_are_kept_and_reported()
    {
        var b = new IortBuilder(9);
        b.Add(0x42, 0, [1, 2, 3, 4]);
        var t = Load(b.Build());
        Assert.IsType<IortUnknownNode>(Assert.Single(t.Nodes));
        Assert.Equal([AcpiRules.IortRevisionUnknown, AcpiRules.IortUnknownNodeType], t.Problems.Select(p => p.RuleId));
    }

    [Fact]
    public void An_empty_table_has_no_nodes()
    {
        var t = Load(new IortBuilder().Build());
        Assert.Empty(t.Nodes);
        Assert.Null(t.ResolvePci(0, 0).RootComplex);
        Assert.Equal(IortNcEnd.NodeNotFound, t.ResolveNamedComponent("X").End);
    }

    // ---- malformed tables: one typed error each, with the offset ----

    [Fact]
    public void Truncated_headers_are_typed_errors()
    {
        var (_, bytes) = AllTypes();
        Fails(bytes[..3], AcpiTableError.TruncatedHeader, 3);
        Fails(bytes[..20], AcpiTableError.TruncatedHeader, 20);
        var e = Fails(bytes[..100], AcpiTableError.LengthBeyondData, 4);
        Assert.Contains("at most 100", e.Message);
    }

    [Fact]
    public void Detection_looks_at_the_signature_only()
    {
        Assert.True(AcpiTable.LooksLikeAcpiTable("IORT"u8));
        Assert.True(AcpiTable.LooksLikeAcpiTable(ViotTests.Sample().Bytes));
        Assert.False(AcpiTable.LooksLikeAcpiTable("IOR"u8));
        Assert.False(AcpiTable.LooksLikeAcpiTable("DMAR...."u8));
        Assert.IsType<IortTable>(AcpiTable.Load(AllTypes().Bytes, Src));
    }

    [Fact]
    public void Other_signatures_are_refused_by_name()
    {
        var (_, bytes) = AllTypes();
        "DMAR"u8.CopyTo(bytes);
        Assert.Contains("found \"DMAR\"", Fails(bytes, AcpiTableError.UnsupportedSignature, 0).Message);
        bytes[0] = 0xff;
        Assert.Contains(@"found ""\xffMAR""", Fails(bytes, AcpiTableError.UnsupportedSignature, 0).Message);
    }

    [Fact]
    public void A_length_field_smaller_than_the_iort_header_is_refused()
    {
        var (_, bytes) = AllTypes();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), 40);
        Fails(bytes, AcpiTableError.LengthTooSmall, 4);
    }

    [Fact]
    public void Node_offsets_and_counts_that_cannot_be_are_refused()
    {
        var (_, bytes) = AllTypes();
        var copy = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(40), 0x20);
        Fails(copy, AcpiTableError.NodeOffsetOutOfRange, 40);
        copy = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(40), 0xffff_fff0);
        Fails(copy, AcpiTableError.NodeOffsetOutOfRange, 40);
        copy = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(36), 0xffff_ffff);
        Assert.Contains("found a node count of 4294967295", Fails(copy, AcpiTableError.NodeCountImpossible, 36).Message);
    }

    [Fact]
    public void A_node_count_larger_than_the_nodes_present_overruns_the_table()
    {
        var b = new IortBuilder();
        b.Add(0, 0, IortBuilder.Its(1, 2, 3, 4, 5, 6, 7, 8, 9));
        var bytes = b.Build();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(36), 2);
        Fails(bytes, AcpiTableError.NodeOverrunsTable, 48 + 56);
    }

    [Fact]
    public void Node_lengths_too_short_or_past_the_end_are_refused()
    {
        var b = new IortBuilder();
        b.Add(1, 0, IortBuilder.NamedComponent("A"));
        var bytes = b.Build();
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(49), 20);
        Assert.Contains("at least 30 for the named component node at 0x30, found 20", Fails(bytes, AcpiTableError.NodeTooShort, 49).Message);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(49), 0);
        Fails(bytes, AcpiTableError.NodeTooShort, 49);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(49), 0x400);
        Fails(bytes, AcpiTableError.NodeOverrunsTable, 49);
    }

    [Fact]
    public void Mapping_arrays_outside_their_node_are_refused()
    {
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(1));
        b.Add(2, 1, IortBuilder.RootComplex(0), new Map(0, 0xff, 0, its));
        var bytes = b.Build();
        var rc = (int)b.OffsetOf(1);
        var copy = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(rc + 8), 2); // two mappings, room for one
        Fails(copy, AcpiTableError.MappingsOutsideNode, rc + 12);
        copy = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(rc + 12), 8); // over the node header
        Fails(copy, AcpiTableError.MappingsOutsideNode, rc + 12);
        copy = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(rc + 8), 0xffff_ffff);
        Fails(copy, AcpiTableError.MappingsOutsideNode, rc + 12);
    }

    [Fact]
    public void Variable_arrays_outside_their_node_are_refused()
    {
        var b = new IortBuilder();
        b.Add(0, 0, IortBuilder.Its(1));
        var bytes = b.Build();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(48 + 16), 2);
        Fails(bytes, AcpiTableError.ArrayOutsideNode, 48 + 16);

        b = new IortBuilder();
        b.Add(3, 0, IortBuilder.Smmu(0, 0, 1, 2));
        bytes = b.Build();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(48 + 44), 9); // nine context interrupts
        Assert.Contains("9 context interrupt entries", Fails(bytes, AcpiTableError.ArrayOutsideNode, 48).Message);

        b = new IortBuilder();
        b.Add(6, 3, IortBuilder.Rmr(0, (0, 0x1000)));
        bytes = b.Build();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(48 + 24), 40);
        Fails(bytes, AcpiTableError.ArrayOutsideNode, 48 + 24);
    }

    [Fact]
    public void An_object_name_without_a_terminator_is_refused()
    {
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(1));
        var body = IortBuilder.NamedComponent(@"\_SB.DEV1");
        body[^1] = (byte)'X';
        b.Add(1, 0, body, Map.Single(1, its));
        Fails(b.Build(), AcpiTableError.UnterminatedName, b.OffsetOf(1) + 29);
    }

    [Fact]
    public void Output_references_must_name_a_node_of_a_type_that_can_be_there()
    {
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(1));
        b.Add(2, 1, IortBuilder.RootComplex(0), new Map(0, 0xff, 0, its, RawReference: 0x31));
        var e = Fails(b.Build(), AcpiTableError.ReferenceToNoNode, b.OffsetOf(1) + 36 + 12);
        Assert.Contains("found 0x31", e.Message);

        b = new IortBuilder();
        var nc = b.Add(1, 0, IortBuilder.NamedComponent("A"));
        b.Add(2, 1, IortBuilder.RootComplex(0), new Map(0, 0xff, 0, nc));
        e = Fails(b.Build(), AcpiTableError.ReferenceToWrongType, b.OffsetOf(1) + 36 + 12);
        Assert.Contains("expected an output to ITS group or SMMUv1/v2 or SMMUv3", e.Message);

        b = new IortBuilder();
        var s3 = b.Add(4, 3, IortBuilder.SmmuV3(0));
        b.Add(4, 3, IortBuilder.SmmuV3(0), new Map(0, 0xff, 0, s3));
        Fails(b.Build(), AcpiTableError.ReferenceToWrongType, b.OffsetOf(1) + 68 + 12);

        b = new IortBuilder();
        var its2 = b.Add(0, 0, IortBuilder.Its(1));
        b.Add(5, 1, IortBuilder.Pmcg(0, 0, b.OffsetOf(its2), 0));
        Fails(b.Build(), AcpiTableError.ReferenceToWrongType, b.OffsetOf(1) + 28);
        b = new IortBuilder();
        b.Add(5, 1, IortBuilder.Pmcg(0, 0, 0x1234, 0));
        Fails(b.Build(), AcpiTableError.ReferenceToNoNode, 48 + 28);
    }

    [Fact]
    public void A_cycle_of_output_references_is_refused_instead_of_hanging()
    {
        // Unknown node types may map anywhere; two of them mapping to each other would spin iort_node_map_id().
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(1));
        var smmu = b.Add(4, 3, IortBuilder.SmmuV3(0), new Map(0, 0xffff, 0, its));
        b.Add(0x80, 0, [], new Map(0, 0xffff, 0, 3));
        b.Add(0x81, 0, [], new Map(0, 0xfff, 0, smmu), new Map(0x1000, 0xfff, 0, 2));
        b.Add(2, 1, IortBuilder.RootComplex(0), new Map(0, 0xffff, 0, 2));
        var e = Assert.Throws<AcpiFormatException>(() => AcpiTable.Load(b.Build(), Src));
        Assert.Equal(AcpiTableError.MappingCycle, e.Kind);
        Assert.Contains($"0x{b.OffsetOf(2):x} -> 0x{b.OffsetOf(3):x} -> 0x{b.OffsetOf(2):x}", e.Message);

        var self = new IortBuilder();
        self.Add(0x90, 0, [], new Map(0, 0, 0, 0));
        Assert.Equal(AcpiTableError.MappingCycle, Assert.Throws<AcpiFormatException>(() => AcpiTable.Load(self.Build(), Src)).Kind);
    }

    [Fact]
    public void Unknown_node_types_may_sit_between_a_root_complex_and_an_smmu()
    {
        var b = new IortBuilder();
        var smmu = b.Add(4, 3, IortBuilder.SmmuV3(0));
        var mid = b.Add(0x80, 0, [], new Map(0, 0xffff, 0x8000, smmu));
        b.Add(2, 1, IortBuilder.RootComplex(0), new Map(0, 0xffff, 0x100, mid));
        var t = Load(b.Build());
        var r = t.ResolvePci(0, 5);
        Assert.Same(t.Nodes[0], r.Iommu);
        Assert.Equal(0x8105u, r.StreamId);
        Assert.Equal(2, r.Walk!.Hops.Count);
    }
}
