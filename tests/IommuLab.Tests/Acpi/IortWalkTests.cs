using IommuLab.Firmware.Acpi;
using IommuLab.Firmware.Acpi.Iort;

namespace IommuLab.Tests.Acpi;

/// <summary>The kernel's IORT ID translation (drivers/acpi/arm64/iort.c) on hand-made tables.</summary>
public sealed class IortWalkTests
{
    private static IortTable Load(IortBuilder b) => Assert.IsType<IortTable>(AcpiTable.Load(b.Build(), "walk.iort"));

    /// <summary>ITS, SMMU A, SMMU B, then a root complex (segment 0) with the given mappings to A (1) / B (2).</summary>
    private static IortTable TwoSmmus(params Map[] rcMaps)
    {
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(0));
        b.Add(4, 3, IortBuilder.SmmuV3(0xa000), new Map(0, 0xffff, 0, its));
        b.Add(4, 3, IortBuilder.SmmuV3(0xb000), new Map(0, 0xffff, 0, its));
        b.Add(2, 1, IortBuilder.RootComplex(0), rcMaps);
        return Load(b);
    }

    [Fact]
    public void A_rid_inside_a_range_is_offset_from_the_output_base()
    {
        var t = TwoSmmus(new Map(0x100, 0xff, 0x2000, 1));
        var r = t.ResolvePci(0, 0x123);
        Assert.Same(t.Nodes[1], r.Iommu);
        Assert.Equal(0x2023u, r.StreamId);
        var hop = Assert.Single(r.Walk!.Hops);
        Assert.Equal(IortHopRule.Range, hop.Rule);
        Assert.Equal(0x123u, hop.IdIn);
        Assert.Empty(r.Walk.KernelLog);
    }

    [Fact]
    public void Id_count_is_the_number_of_ids_minus_one_so_the_last_id_is_inclusive()
    {
        var t = TwoSmmus(new Map(0, 0xff, 0, 1));
        Assert.Equal(IortHopRule.EndOfRange, t.ResolvePci(0, 0xff).Walk!.Hops[0].Rule);
        Assert.Same(t.Nodes[1], t.ResolvePci(0, 0xff).Iommu);
        var miss = t.ResolvePci(0, 0x100);
        Assert.Null(miss.Iommu);
        Assert.Equal(IortWalkEnd.NoMatch, miss.Walk!.End);
        Assert.Equal(0x100u, miss.Walk.IdOut); // the input ID, unchanged, on failure
        Assert.Same(miss.RootComplex, miss.Walk.StoppedAt);
    }

    [Fact]
    public void An_end_of_range_match_gives_way_to_a_mapping_starting_there()
    {
        // Firmware that stores the number of IDs instead of the number minus one: [0, 0x100] and [0x100, 0x1ff].
        var t = TwoSmmus(new Map(0, 0x100, 0, 1), new Map(0x100, 0xff, 0x5000, 2));
        var r = t.ResolvePci(0, 0x100);
        Assert.Same(t.Nodes[2], r.Iommu);
        Assert.Equal(0x5000u, r.StreamId);
        Assert.Equal(IortHopRule.EndOfRangeSuperseded, r.Walk!.Hops[0].Rule);
        Assert.Equal(["[Firmware Bug]: [map] conflicting mapping for input ID 0x100", "[Firmware Bug]: applying workaround."], r.Walk.KernelLog);
        Assert.Same(t.Nodes[1], t.ResolvePci(0, 0xff).Iommu);
        Assert.Contains(t.Problems, p => p.RuleId == AcpiRules.IortEndOfRangeOverlap);
    }

    [Fact]
    public void A_later_overlapping_mapping_not_starting_at_the_id_leaves_the_end_of_range_match()
    {
        var t = TwoSmmus(new Map(0, 0x100, 0, 1), new Map(0x80, 0xff, 0x5000, 2));
        var r = t.ResolvePci(0, 0x100);
        Assert.Same(t.Nodes[1], r.Iommu);
        Assert.Equal(0x100u, r.StreamId);
        Assert.Equal(IortHopRule.EndOfRange, r.Walk!.Hops[0].Rule);
        Assert.Equal(["[Firmware Bug]: [map] conflicting mapping for input ID 0x100"], r.Walk.KernelLog);
    }

    [Fact]
    public void Without_an_end_of_range_match_the_first_covering_mapping_wins()
    {
        var t = TwoSmmus(new Map(0, 0xff, 0, 1), new Map(0x10, 0xf, 0x7000, 2));
        Assert.Same(t.Nodes[1], t.ResolvePci(0, 0x15).Iommu);
    }

    [Fact]
    public void A_one_id_range_is_never_provisional()
    {
        var t = TwoSmmus(new Map(0x40, 0, 0x9, 1), new Map(0x40, 0, 0x8, 2));
        var r = t.ResolvePci(0, 0x40);
        Assert.Same(t.Nodes[1], r.Iommu);
        Assert.Equal(IortHopRule.Range, r.Walk!.Hops[0].Rule);
    }

    [Fact]
    public void A_single_mapping_on_a_root_complex_maps_every_rid_to_its_output_base()
    {
        var t = TwoSmmus(new Map(0, 0, 0x33, 2, Flags: 1));
        Assert.Equal(0x33u, t.ResolvePci(0, 0xbeef).StreamId);
        Assert.Equal(IortHopRule.SingleMapping, t.ResolvePci(0, 0xbeef).Walk!.Hops[0].Rule);
    }

    [Fact]
    public void Range_arithmetic_wraps_at_32_bits_as_the_kernel_sum_does()
    {
        // input_base + id_count overflows u32 and wraps to 0xff: the kernel's range test then fails above it.
        var t = TwoSmmus(new Map(0xffff_ff00, 0x1ff, 0, 1));
        var m = t.Nodes[3].Mappings[0];
        Assert.Equal((IortIdMapOutcome.NoMatch, 0u), IortTable.IdMap(m, IortNodeType.RootComplex, 0xffff_ff80, false));
        Assert.Equal(0x1_0000_00ffuL, m.InputLast);
    }

    [Fact]
    public void A_rid_mapped_to_the_its_only_has_no_iommu()
    {
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(0));
        b.Add(2, 1, IortBuilder.RootComplex(0), new Map(0, 0xffff, 0, its));
        var r = Load(b).ResolvePci(0, 8);
        Assert.Null(r.Iommu);
        Assert.Null(r.StreamId);
        Assert.Equal(IortWalkEnd.NoMappings, r.Walk!.End);
        Assert.IsType<IortItsGroup>(r.Walk.StoppedAt);
        Assert.Single(r.Walk.Hops);
    }

    [Fact]
    public void The_msi_walk_crosses_the_smmuv3_skipping_its_deviceid_mapping()
    {
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(0));
        // Mapping 0 is the SMMU's own MSI (DeviceID index 0, valid by flag in node revision 5).
        var smmu = b.Add(4, 5, IortBuilder.SmmuV3(0, flags: 0x10, deviceIdIndex: 0),
            new Map(0, 0, 0x999, its, 1), new Map(0, 0xffff, 0x10000, its));
        b.Add(2, 1, IortBuilder.RootComplex(0), new Map(0, 0xffff, 0, smmu));
        var t = Load(b);
        var walk = t.MapId(t.Nodes[2], 0x42, IortTargets.Msi);
        Assert.IsType<IortItsGroup>(walk.Target);
        Assert.Equal(0x10042u, walk.IdOut);
        Assert.Equal([2, 1], walk.Hops.Select(h => t.Nodes.ToList().IndexOf(h.Node)));
        Assert.Equal(1, walk.Hops[1].Mapping.Index);

        // The same walk for an IOMMU stops at the SMMU.
        Assert.Same(t.Nodes[1], t.MapId(t.Nodes[2], 0x42, IortTargets.Iommu).Target);
        Assert.Empty(t.Problems);
    }

    [Fact]
    public void A_single_mapping_on_an_smmu_is_refused_by_the_walk()
    {
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(0));
        var smmu = b.Add(3, 0, IortBuilder.Smmu(0, 1), new Map(0, 0, 0x5, its, 1));
        b.Add(2, 1, IortBuilder.RootComplex(0), new Map(0, 0xffff, 0, smmu));
        var t = Load(b);
        var walk = t.MapId(t.Nodes[2], 3, IortTargets.Msi);
        Assert.Null(walk.Target);
        Assert.Equal(IortWalkEnd.NoMatch, walk.End);
        Assert.Contains("SINGLE MAPPING flag not allowed for node type 3", Assert.Single(walk.KernelLog));
    }

    [Fact]
    public void A_null_output_reference_on_the_first_mapping_stops_the_walk()
    {
        var t = TwoSmmus(new Map(0, 0xff, 0, 0, RawReference: 0), new Map(0x100, 0xff, 0, 1));
        var r = t.ResolvePci(0, 0x180);
        Assert.Null(r.Iommu);
        Assert.Equal(IortWalkEnd.NullReference, r.Walk!.End);
        Assert.Contains("ID map has NULL parent reference", r.Walk.KernelLog[0]);
    }

    [Fact]
    public void Only_the_first_root_complex_of_a_segment_is_used()
    {
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(0));
        var smmu = b.Add(4, 3, IortBuilder.SmmuV3(0), new Map(0, 0xffff, 0, its));
        b.Add(2, 1, IortBuilder.RootComplex(1), new Map(0, 0xffff, 0, its));
        b.Add(2, 1, IortBuilder.RootComplex(1), new Map(0, 0xffff, 0, smmu));
        var t = Load(b);
        Assert.Same(t.Nodes[2], t.ResolvePci(1, 0).RootComplex);
        Assert.Null(t.ResolvePci(1, 0).Iommu);
    }

    // ---- named components ----

    private static (IortTable Table, IortBuilder Builder) NamedComponent(params Map[] maps)
    {
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(0));
        b.Add(3, 0, IortBuilder.Smmu(0x1500_0000, 3));
        b.Add(3, 0, IortBuilder.Smmu(0x3da0_0000, 3));
        b.Add(1, 0, IortBuilder.NamedComponent(@"\_SB.GPU0"), maps);
        _ = its;
        return (Load(b), b);
    }

    [Fact]
    public void The_no_id_loop_collects_every_single_mapping_smmu_in_index_order()
    {
        var (t, _) = NamedComponent(Map.Single(0x800, 1), Map.Single(0x2, 2), Map.Single(0x801, 1));
        var r = t.ResolveNamedComponent(@"\_SB.GPU0");
        Assert.Equal([(t.Nodes[1], 0x800u), (t.Nodes[2], 0x2u), (t.Nodes[1], 0x801u)], r.Outputs);
        Assert.Equal(IortNcEnd.GetIdFailed, r.End);
        Assert.Equal(IortGetIdEnd.NoSuchIndex, r.GetIdEnd);
        Assert.Equal(3, r.EndIndex);
        Assert.All(r.Steps, s => Assert.Null(s.Walk));
    }

    [Fact]
    public void The_no_id_loop_stops_at_the_first_mapping_without_the_single_mapping_flag()
    {
        // The shape of \_SB.GPU0 in the laptop tables: ranges only, so Linux finds no SMMU without an input ID.
        var (t, _) = NamedComponent(Map.Single(0x800, 1), new Map(0x30a0000, 0, 0x2, 2), Map.Single(0x801, 2));
        var r = t.ResolveNamedComponent(@"\_SB.GPU0");
        Assert.Equal([(t.Nodes[1], 0x800u)], r.Outputs);
        Assert.Equal(IortGetIdEnd.NotSingleMapping, r.GetIdEnd);
        Assert.Equal(1, r.EndIndex);

        // With an input ID, iort_id_map() lets a single mapping match any ID, so the first one wins over the
        // range that covers the ID exactly.
        var walk = t.ResolveNamedComponent(@"\_SB.GPU0", 0x30a0000)!;
        Assert.Same(t.Nodes[1], walk.Target);
        Assert.Equal(0x800u, walk.IdOut);
        Assert.Equal(IortHopRule.SingleMapping, walk.Hops[0].Rule);

        var (ranges, _) = NamedComponent(new Map(0x30000, 0, 0x800, 1), new Map(0x30a0000, 3, 0x2, 2));
        var byId = ranges.ResolveNamedComponent(@"\_SB.GPU0", 0x30a0002)!;
        Assert.Same(ranges.Nodes[2], byId.Target);
        Assert.Equal(0x4u, byId.IdOut);
        Assert.Equal(IortGetIdEnd.NotSingleMapping, ranges.ResolveNamedComponent(@"\_SB.GPU0").GetIdEnd);
        Assert.Null(t.ResolveNamedComponent(@"\_SB.GPU1", 0));
    }

    [Fact]
    public void A_single_mapping_to_the_its_ends_the_no_id_loop_without_an_smmu()
    {
        var (t, _) = NamedComponent(Map.Single(0x800, 1), Map.Single(0x5, 0));
        var r = t.ResolveNamedComponent(@"\_SB.GPU0");
        Assert.Single(r.Steps);
        Assert.Equal(IortNcEnd.WalkFailed, r.End);
        Assert.Equal(IortWalkEnd.NoMappings, r.FailedWalk!.End);
        Assert.Equal(1, r.EndIndex);
    }

    [Fact]
    public void A_null_reference_ends_the_no_id_loop_with_the_kernel_message()
    {
        var (t, _) = NamedComponent(Map.Single(0x800, 1), new Map(0, 0, 0, 0, 1, RawReference: 0));
        var r = t.ResolveNamedComponent(@"\_SB.GPU0");
        Assert.Equal(IortGetIdEnd.NullReference, r.GetIdEnd);
        Assert.Contains("[node type 1] ID map has NULL parent reference", Assert.Single(r.KernelLog));
    }

    [Fact]
    public void Get_id_takes_single_mappings_only_on_the_node_types_the_kernel_lists()
    {
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(0));
        b.Add(3, 0, IortBuilder.Smmu(0, 1), new Map(0, 0, 0x5, its, 1));
        b.Add(5, 1, IortBuilder.Pmcg(0, 0, 0, 0), new Map(0, 0, 0x6, its, 1));
        var t = Load(b);
        Assert.Equal(IortGetIdEnd.NotSingleMapping, t.GetId(t.Nodes[1], 0).End);
        Assert.Equal((IortGetIdEnd.Found, t.Nodes[0], 0x6u), t.GetId(t.Nodes[2], 0));
        Assert.Equal(IortGetIdEnd.NoSuchIndex, t.GetId(t.Nodes[2], 1).End);
        Assert.Equal(IortGetIdEnd.NoSuchIndex, t.GetId(t.Nodes[2], -1).End);
    }

    [Fact]
    public void Dma_limits_come_from_the_address_size_fields_as_the_kernel_reads_them()
    {
        var b = new IortBuilder();
        b.Add(1, 0, IortBuilder.NamedComponent("A", 44));
        b.Add(1, 0, IortBuilder.NamedComponent("B", 0));
        b.Add(2, 1, IortBuilder.RootComplex(0, memoryLimit: 64));
        b.Add(2, 0, IortBuilder.RootComplex(1, memoryLimit: 48));
        var t = Load(b);
        Assert.Equal((null, 0xfff_ffff_ffffUL, null), IortTable.DmaLimit(t.Nodes[0]));
        Assert.Equal(IommuLab.Firmware.Topology.Errno.EINVAL, IortTable.DmaLimit(t.Nodes[1]).Error);
        Assert.Equal("[Firmware Bug]: Named component missing memory address limit", IortTable.DmaLimit(t.Nodes[1]).KernelLog);
        Assert.Equal(ulong.MaxValue, IortTable.DmaLimit(t.Nodes[2]).Limit);
        Assert.Equal(IommuLab.Firmware.Topology.Errno.ENODEV, IortTable.DmaLimit(t.Nodes[3]).Error); // node revision 0
    }
}
