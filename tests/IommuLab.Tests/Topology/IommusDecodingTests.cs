using IommuLab.Firmware.Topology;

namespace IommuLab.Tests.Topology;

public sealed class IommusDecodingTests
{
    private static readonly IommuTopology Apple = TopologyFixtures.Decode("apple-ganged.dts");
    private static readonly IommuTopology Errors = TopologyFixtures.Decode("iommus-errors.dts");

    private static (string Target, uint[] Args)[] Refs(IommusConsumer c) => [.. c.References.Select(r => (r.TargetPath, r.Args.ToArray()))];

    private static string[] Rules(IommuTopology t, string path) => [.. t.Problems.Where(p => p.Path == path).Select(p => p.RuleId)];

    [Fact]
    public void Ganged_master_references_both_darts_in_order_with_their_stream_ids()
    {
        var c = Apple.Consumer("/soc/master@391000000")!;
        Assert.Equal([("/soc/iommu@390000000", [0u]), ("/soc/iommu@390004000", [1u])], Refs(c));
        Assert.Equal(IommusEndReason.EndOfList, c.End.Reason);
        Assert.Equal(2, c.End.Index);
        Assert.Empty(c.IgnoredCells);
        Assert.Empty(Rules(Apple, c.Path));
    }

    [Fact]
    public void Dwc3_with_two_darts_has_two_references_and_no_problem()
    {
        var c = Apple.Consumer("/soc/usb@382280000")!;
        Assert.Equal([("/soc/iommu@382f00000", [0u]), ("/soc/iommu@382f80000", [1u])], Refs(c));
        Assert.Equal(["apple,t8103-dwc3", "snps,dwc3"], c.Compatible);
        Assert.Equal(2, c.DistinctTargets.Count);
        Assert.Empty(Rules(Apple, c.Path));
    }

    [Fact]
    public void Display_subsystem_with_a_disabled_second_dart_is_flagged_at_index_1()
    {
        var c = Apple.Consumer("/display-subsystem")!;
        Assert.Equal([("/soc/iommu@231304000", [0u]), ("/soc/iommu@271304000", [0u])], Refs(c));
        Assert.True(c.References[0].TargetAvailable);
        Assert.False(c.References[1].TargetAvailable);
        var p = Assert.Single(Apple.Problems, p => p.Path == c.Path);
        Assert.Equal(TopologyRules.IommusDisabledProvider, p.RuleId);
        Assert.Contains("iommus[1]", p.Message, StringComparison.Ordinal);
        Assert.Equal(1, Apple.Counts.EnabledConsumersReferencingDisabledProvider);
    }

    [Fact]
    public void Providers_carry_reg_decoded_with_the_parent_cells_and_status()
    {
        var p = Apple.Provider("/soc/iommu@382f00000")!;
        Assert.Equal(1u, p.IommuCells);
        Assert.Equal(["apple,t8103-dart"], p.Compatible);
        Assert.Equal(2, p.Reg!.AddressCells);
        Assert.Equal([new RegRange(0x382f00000, 0x4000)], p.Reg.Ranges);
        Assert.True(p.Status.IsAvailable);
        var off = Apple.Provider("/soc/iommu@271304000")!;
        Assert.Equal(StatusKind.Disabled, off.Status.Kind);
        Assert.Equal(6, Apple.Counts.Providers);
        Assert.Equal(5, Apple.Counts.EnabledProviders);
    }

    [Fact]
    public void A_zero_phandle_entry_ends_the_list_with_enoent_and_the_rest_is_ignored()
    {
        var c = Errors.Consumer("/empty-entry@a000")!;
        Assert.Empty(c.References);
        Assert.Equal(IommusEndReason.EmptyEntry, c.End.Reason);
        Assert.Equal(Errno.ENOENT, c.End.Errno);
        Assert.Null(c.End.KernelLog);
        Assert.Equal([0u, 0x10u, 3u], c.IgnoredCells);
        var ignored = Assert.Single(c.IgnoredReferences);
        Assert.Equal((1, "/iommu@1000"), (ignored.Index, ignored.TargetPath));
        Assert.Equal([TopologyRules.IommusEmptyEntry, TopologyRules.IommusEntriesIgnored], Rules(Errors, c.Path));
    }

    [Fact]
    public void Two_cells_written_for_a_one_cell_iommu_reframe_into_an_unrelated_iommu()
    {
        var c = Errors.Consumer("/reframe-unrelated@b000")!;
        Assert.Equal(
            [("/iommu@1000", [1u]), ("/iommu@3000", []), ("/iommu@1000", [2u]), ("/iommu@3000", [])],
            Refs(c));
        Assert.Equal([0, 2, 3, 5], c.References.Select(r => r.CellOffset));
        Assert.Equal(IommusEndReason.EndOfList, c.End.Reason);
        var p = Assert.Single(Errors.Problems, p => p.Path == c.Path);
        Assert.Equal(TopologyRules.IommusCellsMismatch, p.RuleId);
        Assert.Contains("cell 2 (value 0x7) is read as a phandle and resolves to /iommu@3000", p.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Reframing_into_a_node_without_iommu_cells_ends_the_list_with_einval()
    {
        var c = Errors.Consumer("/reframe-nonprovider@c000")!;
        Assert.Equal([("/iommu@1000", [1u])], Refs(c));
        Assert.Equal(IommusEndReason.TargetNotProvider, c.End.Reason);
        Assert.Equal((1, 2, Errno.EINVAL), (c.End.Index, c.End.CellOffset, c.End.Errno));
        Assert.Equal("/reframe-nonprovider@c000: could not get #iommu-cells for /clock-controller@4000", c.End.KernelLog);
        Assert.Equal([TopologyRules.IommusTargetNotProvider, TopologyRules.IommusCellsMismatch], Rules(Errors, c.Path));
    }

    [Fact]
    public void A_phandle_to_nothing_ends_the_list_and_ignores_the_entries_after_it()
    {
        var c = Errors.Consumer("/unresolved@d000")!;
        Assert.Equal([("/iommu@1000", [1u])], Refs(c));
        Assert.Equal(IommusEndReason.PhandleNotFound, c.End.Reason);
        Assert.Equal("/unresolved@d000: could not find phandle 99", c.End.KernelLog);
        Assert.Equal([0x63u, 0u, 0x10u, 2u], c.IgnoredCells);
        Assert.Equal([TopologyRules.IommusPhandleUnresolved, TopologyRules.IommusEntriesIgnored], Rules(Errors, c.Path));
    }

    [Fact]
    public void Args_overrunning_the_property_end_the_list_with_the_kernel_message()
    {
        var c = Errors.Consumer("/overrun@e000")!;
        Assert.Empty(c.References);
        Assert.Equal(IommusEndReason.ArgsOverrun, c.End.Reason);
        Assert.Equal("/overrun@e000: #iommu-cells = 2 found 1", c.End.KernelLog);
        Assert.Equal(
            [TopologyRules.IommusArgsOverrun, TopologyRules.IommusEntriesIgnored, TopologyRules.IommusCellsMismatch],
            Rules(Errors, c.Path));
    }

    [Fact]
    public void More_than_sixteen_args_are_truncated_to_max_phandle_args()
    {
        var r = Assert.Single(Errors.Consumer("/truncated@f000")!.References);
        Assert.Equal(Enumerable.Range(1, 16).Select(i => (uint)i), r.Args);
        Assert.Equal(18u, r.DeclaredArgCount);
        Assert.True(r.ArgsTruncated);
        Assert.Equal([TopologyRules.IommusArgsTruncated], Rules(Errors, "/truncated@f000"));
    }

    [Fact]
    public void A_length_not_a_multiple_of_four_drops_the_partial_cell()
    {
        var c = Errors.Consumer("/odd-length@10000")!;
        Assert.Equal([("/iommu@1000", [1u])], Refs(c));
        Assert.Equal(2, c.TrailingBytes);
        Assert.Equal([TopologyRules.IommusLengthNotCells], Rules(Errors, c.Path));
    }

    [Fact]
    public void An_empty_iommus_property_has_no_references()
    {
        var c = Errors.Consumer("/empty@11000")!;
        Assert.Empty(c.References);
        Assert.Equal(IommusEndReason.EndOfList, c.End.Reason);
        Assert.Equal([TopologyRules.IommusEmpty], Rules(Errors, c.Path));
    }

    [Fact]
    public void A_disabled_consumer_is_listed_and_flagged_but_not_reported_for_its_disabled_provider()
    {
        var c = Errors.Consumer("/disabled-consumer@12000")!;
        Assert.False(c.Status.IsAvailable);
        Assert.Equal(StatusKind.Disabled, c.Status.Kind);
        Assert.Equal([("/iommu@6000", [4u])], Refs(c));
        Assert.Empty(Rules(Errors, c.Path));
        Assert.Equal([TopologyRules.IommusDisabledProvider], Rules(Errors, "/to-disabled@13000"));
        Assert.Equal(1, Errors.Counts.DisabledConsumers);
    }

    [Theory]
    [InlineData(null, StatusKind.Okay, true)]
    [InlineData("okay", StatusKind.Okay, true)]
    [InlineData("ok", StatusKind.Okay, true)]
    [InlineData("disabled", StatusKind.Disabled, false)]
    [InlineData("reserved", StatusKind.Reserved, false)]
    [InlineData("fail", StatusKind.Fail, false)]
    [InlineData("fail-sss", StatusKind.Fail, false)]
    [InlineData("okay-ish", StatusKind.Other, false)]
    [InlineData("", StatusKind.Other, false)]
    public void Status_reads_as_of_device_is_available_decides(string? status, StatusKind kind, bool available)
    {
        var node = new IommuLab.Firmware.DeviceTree.DtNode("n");
        if (status is not null)
        {
            node.SetProperty(new IommuLab.Firmware.DeviceTree.DtProperty("status", System.Text.Encoding.UTF8.GetBytes(status + "\0")));
        }

        var s = NodeStatus.Of(node);
        Assert.Equal((kind, available), (s.Kind, s.IsAvailable));
    }
}
