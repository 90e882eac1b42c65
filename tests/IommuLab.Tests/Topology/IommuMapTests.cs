using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.Topology;
using IommuLab.Tests.Support;

namespace IommuLab.Tests.Topology;

public sealed class IommuMapTests
{
    private static readonly IommuTopology Maps = TopologyFixtures.Decode("iommu-map.dts");

    private static (MapIdOutcome, Errno?, string?, string) Map(string user, uint id, IommuMapLayout layout = IommuMapLayout.TargetCells)
    {
        var r = Maps.MapUser(user)!.MapId(id, layout);
        return (r.Outcome, r.Errno, r.TargetPath, Strings.Args(r.Args));
    }

    [Theory]
    [InlineData(0x100u, "/iommu@1000")]
    [InlineData(0x1f8u, "/iommu@1000")]
    [InlineData(0x208u, "/iommu@2000")]
    [InlineData(0x3ffu, "/iommu@3000")]
    public void Apple_per_port_map_sends_every_function_of_a_bus_to_stream_1_of_its_dart(uint rid, string dart)
    {
        foreach (var layout in new[] { IommuMapLayout.FourCell, IommuMapLayout.TargetCells })
        {
            Assert.Equal((MapIdOutcome.Translated, (Errno?)null, dart, "<1>"), Map("/pcie@a000", rid, layout));
        }
    }

    [Fact]
    public void Apple_map_has_no_translation_for_bus_0_and_flags_the_disabled_port_dart()
    {
        var r = Maps.MapUser("/pcie@a000")!.MapId(0x0008);
        Assert.Equal(MapIdOutcome.NoMatch, r.Outcome);
        Assert.Equal([8u], r.Args);
        Assert.Equal("/pcie@a000: no iommu-map translation for id 0x8 on (null)", r.KernelLog);
        Assert.True(Maps.MapUser("/pcie@a000")!.LayoutsAgree);
        Assert.Contains(Maps.Problems, p => p.Path == "/pcie@a000" && p.RuleId == TopologyRules.MapDisabledTarget);
    }

    [Fact]
    public void An_id_base_outside_the_mask_faults_ids_not_matched_before_it()
    {
        Assert.Equal((MapIdOutcome.Translated, (Errno?)null, "/iommu@4000", "<0x42>"), Map("/pcie@b000", 0x42));
        var r = Maps.MapUser("/pcie@b000")!.MapId(0x150);
        Assert.Equal((MapIdOutcome.Failed, Errno.EFAULT), (r.Outcome, r.Errno));
        Assert.Equal("/pcie@b000: Invalid iommu-map translation - iommu-map-mask (0xffff) ignores id-base (0x10000)", r.KernelLog);
        Assert.Contains(Maps.Problems, p => p.Path == "/pcie@b000" && p.RuleId == TopologyRules.MapIdBaseOutsideMask);
    }

    [Fact]
    public void Overlapping_entries_are_reported_and_the_first_match_wins()
    {
        Assert.Equal((MapIdOutcome.Translated, (Errno?)null, "/iommu@4000", "<0x90>"), Map("/pcie@c000", 0x90));
        Assert.Equal((MapIdOutcome.Translated, (Errno?)null, "/iommu@4000", "<0x10d0>"), Map("/pcie@c000", 0x150));
        Assert.Equal(MapIdOutcome.NoMatch, Map("/pcie@c000", 0x200).Item1);
        var p = Assert.Single(Maps.Problems, p => p.Path == "/pcie@c000");
        Assert.Equal(TopologyRules.MapOverlap, p.RuleId);
        Assert.Contains("0x80..0xff", p.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_map_that_is_not_whole_entries_fails_every_id_with_einval()
    {
        foreach (var layout in new[] { IommuMapLayout.FourCell, IommuMapLayout.TargetCells })
        {
            var r = Maps.MapUser("/pcie@d000")!.MapId(0, layout);
            Assert.Equal((MapIdOutcome.Failed, Errno.EINVAL), (r.Outcome, r.Errno));
            Assert.Equal("/pcie@d000: Error: Bad iommu-map length: 12", r.KernelLog);
        }
    }

    [Fact]
    public void An_unresolved_phandle_fails_only_its_own_range_before_v7_2_but_every_later_id_after()
    {
        Assert.Equal(Errno.ENODEV, Map("/pcie@e000", 0x5, IommuMapLayout.FourCell).Item2);
        Assert.Equal((MapIdOutcome.Translated, (Errno?)null, "/iommu@4000", "<0x15>"), Map("/pcie@e000", 0x15, IommuMapLayout.FourCell));
        var u0 = Map("/pcie@e000", 0x15);
        Assert.Equal((MapIdOutcome.Failed, (Errno?)Errno.ENODEV), (u0.Item1, u0.Item2));
        Assert.Contains(Maps.Problems, p => p.Path == "/pcie@e000" && p.RuleId == TopologyRules.MapLayoutsDiffer);
    }

    [Fact]
    public void The_legacy_one_cell_form_for_a_two_cell_iommu_is_tolerated_by_v7_2()
    {
        var user = Maps.MapUser("/pcie@f000")!;
        Assert.True(user.TargetCells.LegacyOneCellTolerated);
        Assert.True(user.LayoutsAgree);
        Assert.Equal((MapIdOutcome.Translated, (Errno?)null, "/iommu@5000", "<0x100>"), Map("/pcie@f000", 0x100));
        Assert.Contains(Maps.Problems, p => p.Path == "/pcie@f000" && p.RuleId == TopologyRules.MapLegacyOneCell);
    }

    [Fact]
    public void Two_cell_output_specifiers_are_read_only_by_v7_2_and_only_for_single_ids()
    {
        Assert.Equal(Errno.EINVAL, Map("/pcie@10000", 0, IommuMapLayout.FourCell).Item2);
        Assert.Equal((MapIdOutcome.Translated, (Errno?)null, "/iommu@5000", "<5 6>"), Map("/pcie@10000", 0));
        var m = Map("/pcie@10000", 0x11);
        Assert.Equal((MapIdOutcome.Failed, (Errno?)Errno.EINVAL), (m.Item1, m.Item2));
        Assert.Equal(MapIdOutcome.NoMatch, Map("/pcie@10000", 0x20).Item1);
        var rules = Maps.Problems.Where(p => p.Path == "/pcie@10000").Select(p => p.RuleId);
        Assert.Equal([TopologyRules.MapBadLength, TopologyRules.MapMultiCellRange, TopologyRules.MapLayoutsDiffer], rules);
    }

    [Theory]
    [Trait("Category", "Corpus")]
    [InlineData(0x0000u, 0x0000u)]
    [InlineData(0x0008u, 0x0008u)]
    [InlineData(0x0100u, 0x0100u)]
    [InlineData(0xffffu, 0xffffu)]
    public void Qemu_smmuv3_maps_every_rid_to_the_same_stream_id(uint rid, uint sid)
    {
        var topo = IommuTopology.Decode(DtbReader.Read(File.ReadAllBytes(Qemu("virt-smmuv3.min.dtb")), "virt-smmuv3.min.dtb"));
        var user = Assert.Single(topo.MapUsers);
        Assert.Equal("/pcie@10000000", user.Path);
        var r = user.MapId(rid);
        Assert.Equal((MapIdOutcome.Translated, "/smmuv3@9050000", sid), (r.Outcome, r.TargetPath, r.Args.Single()));
        Assert.Equal(MapIdOutcome.NoMatch, user.MapId(0x10000).Outcome);
    }

    [Theory]
    [Trait("Category", "Corpus")]
    [InlineData(0x0000u, true)]
    [InlineData(0x0007u, true)]
    [InlineData(0x0008u, false)]
    [InlineData(0x0009u, true)]
    [InlineData(0xffffu, true)]
    public void Qemu_virtio_iommu_map_leaves_a_hole_for_its_own_rid_8(uint rid, bool translated)
    {
        var topo = IommuTopology.Decode(DtbReader.Read(File.ReadAllBytes(Qemu("virt-viommu.min.dtb")), "virt-viommu.min.dtb"));
        var user = Assert.Single(topo.MapUsers);
        foreach (var layout in new[] { IommuMapLayout.FourCell, IommuMapLayout.TargetCells })
        {
            var r = user.MapId(rid, layout);
            Assert.Equal(translated ? MapIdOutcome.Translated : MapIdOutcome.NoMatch, r.Outcome);
            if (translated)
            {
                Assert.Equal(("/pcie@10000000/virtio_iommu@1,0", rid), (r.TargetPath, r.Args.Single()));
            }
        }
    }

    private static string Qemu(string name) => Corpus.QemuDtbs.Single(p => Path.GetFileName(p) == name);
}
