using System.Text;
using IommuLab.Cli;
using IommuLab.Firmware.Acpi;
using IommuLab.Firmware.Acpi.Iort;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.DeviceTree.Dts;
using IommuLab.Firmware.Topology;
using IommuLab.Fuzz;

namespace IommuLab.Tests.Robustness;

/// <summary>Every crash, hang or unbounded read found by fuzzing or review, replayed from its minimised input.</summary>
public sealed class RegressionTests
{
    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(20);

    [Fact]
    public void Iort_with_no_nodes_and_a_node_offset_past_int_max_loads_instead_of_overflowing()
    {
        // Found by AFL++ (acpi target): the unused node offset was cast to int before the node count was looked at.
        var table = Assert.IsType<IortTable>(AcpiTable.Load(Regressions.Bytes("acpi-iort-no-nodes-huge-offset.dat"), "no-nodes"));
        Assert.Empty(table.Nodes);
        Assert.Equal(0x8c30_3030u, BitConverter.ToUInt32(Regressions.Bytes("acpi-iort-no-nodes-huge-offset.dat"), 40));
    }

    [Fact]
    public void Incbin_range_whose_end_overflows_64_bits_is_a_positioned_error()
    {
        // Found by review: offset + length was computed in checked arithmetic before any bound check.
        var e = Assert.Throws<DtsSyntaxException>(() => DtsParser.ParseFile(Regressions.File("dts-incbin-range-overflow.dts")));
        Assert.Equal((3, 18), (e.Line, e.Column));
        Assert.Contains("expected an /incbin/ range within \"dts-incbin-range-overflow.bin\" (4 bytes), found offset 18446744073709551615, length 2: it is beyond the end", e.Message);
    }

    [Fact]
    public void Incbin_of_a_device_that_never_ends_is_refused_without_reading_it()
    {
        // Found by review: File.ReadAllBytes("/dev/zero") grows a buffer until the 2 GB array limit.
        var e = Regressions.Within(HangLimit, () =>
            Assert.Throws<DtsSyntaxException>(() => DtsParser.ParseFile(Regressions.File("dts-incbin-dev-zero.dts"))));
        Assert.Equal((3, 18), (e.Line, e.Column));
        Assert.Contains("cannot read /incbin/ file \"/dev/zero\": expected a regular file, found a device: it reads past its reported length", e.Message);
    }

    [Fact]
    public void Include_of_a_device_that_never_ends_is_refused_without_reading_it()
    {
        // Found by review: File.ReadAllText("/dev/zero") reads until memory runs out.
        var e = Regressions.Within(HangLimit, () =>
            Assert.Throws<DtsSyntaxException>(() => DtsParser.ParseFile(Regressions.File("dts-include-dev-zero.dts"))));
        Assert.Equal(2, e.Line);
        Assert.Contains("cannot read include file \"/dev/zero\": expected a regular file, found a device: it reads past its reported length", e.Message);
    }

    [Fact]
    public void Incbin_still_reads_a_range_of_a_regular_file()
    {
        var dir = Directory.CreateTempSubdirectory("iommulab-incbin");
        File.WriteAllBytes(Path.Combine(dir.FullName, "b.bin"), [1, 2, 3, 4, 5]);
        var tree = DtsParser.Parse("/dts-v1/; / { a = /incbin/(\"b.bin\", 1, 3); b = /incbin/(\"b.bin\"); c = /incbin/(\"b.bin\", 5, 0); };",
            Path.Combine(dir.FullName, "x.dts"));
        Assert.Equal([2, 3, 4], tree.Root.FindProperty("a")!.Value.ToArray());
        Assert.Equal([1, 2, 3, 4, 5], tree.Root.FindProperty("b")!.Value.ToArray());
        Assert.Empty(tree.Root.FindProperty("c")!.Value.ToArray());
    }

    [Fact]
    public void Include_longer_than_the_source_limit_is_refused_before_it_is_read()
    {
        var dir = Directory.CreateTempSubdirectory("iommulab-include");
        File.WriteAllText(Path.Combine(dir.FullName, "big.dtsi"), new string(' ', 10_000));
        var options = new DtsParserOptions { MaxTotalSourceLength = 1000 };
        var e = Assert.Throws<DtsSyntaxException>(() =>
            DtsParser.Parse("/dts-v1/;\n/include/ \"big.dtsi\"\n/ { };\n", Path.Combine(dir.FullName, "x.dts"), options));
        Assert.Contains("cannot read include file \"big.dtsi\": expected at most", e.Message);
    }

    [Fact]
    public void Iommu_map_entry_of_length_0_to_a_disabled_iommu_is_reported_without_underflow()
    {
        // Found by review: the problem message printed the range end as IdEnd - 1, which wraps for an empty range.
        var topology = IommuTopology.Decode(DtsParser.ParseFile(Regressions.File("dts-iommu-map-empty-range-disabled-target.dts")));
        Assert.Contains(topology.Problems, p => p.RuleId == TopologyRules.MapDisabledTarget && p.Message.Contains("IDs in 0x0 (length 0) get no IOMMU", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("text")]
    [InlineData("dot")]
    [InlineData("json")]
    public void Topology_renders_an_iommu_map_entry_of_length_0(string format)
    {
        // Found by the corpus determinism test: freescale/fsl-ls1088a-*.dtb has iommu-map = <0x00 0x14 0x00 0x00>
        // and `iommulab topology` died with an OverflowException printing its range.
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = CliApp.Run(["topology", Regressions.File("dts-iommu-map-empty-range.dts"), "--format", format], stdout, stderr);
        Assert.True(code == 0, stderr.ToString());
        Assert.Contains(format == "json" ? "\"length\": 0" : "ids 0x0 (length 0) -> ", stdout.ToString());
    }

    [Fact]
    public void Iommu_map_of_thousands_of_identical_entries_reports_a_bounded_number_of_overlaps()
    {
        // Found by review: every overlapping pair was reported, n^2/2 problems for n identical entries.
        var source = new StringBuilder("/dts-v1/;\n/ { smmu: iommu { #iommu-cells = <1>; }; pcie { iommu-map = <");
        source.AppendJoin(' ', Enumerable.Repeat("0 &smmu 0 0x10", 3000)).Append(">; }; };\n");
        var topology = Regressions.Within(HangLimit, () => IommuTopology.Decode(DtsParser.Parse(source.ToString(), "flood.dts")));
        var overlaps = topology.Problems.Where(p => p.RuleId == TopologyRules.MapOverlap).ToArray();
        Assert.Equal(65, overlaps.Length);
        Assert.Contains("entries 0 and 1 both cover IDs 0x0..0xf", overlaps[0].Message);
        Assert.Contains("more than 64 overlapping entry pairs; the rest are not reported", overlaps[^1].Message);

        source.Clear().Append("/dts-v1/;\n/ { smmu: iommu { #iommu-cells = <1>; }; pcie { iommu-map = <");
        source.AppendJoin(' ', Enumerable.Repeat("0 &smmu 0 0x10", 5000)).Append(">; }; };\n");
        topology = Regressions.Within(HangLimit, () => IommuTopology.Decode(DtsParser.Parse(source.ToString(), "flood.dts")));
        overlaps = topology.Problems.Where(p => p.RuleId == TopologyRules.MapOverlap).ToArray();
        Assert.Contains("5000 entries are more than the 4096 checked pairwise for overlaps", Assert.Single(overlaps).Message);
    }

    [Fact]
    public void Many_label_amendments_cost_linear_time()
    {
        // Found with fuzz/hostile-shapes.py: every '&label { };' walked the whole tree (over 100 s for this source).
        var source = new StringBuilder("/dts-v1/;\n/ {\n");
        for (var i = 0; i < 100_000; i++)
        {
            source.Append($"l{i}: n{i} {{ }};\n");
        }

        source.Append("};\n");
        for (var i = 0; i < 100_000; i += 3)
        {
            source.Append($"&l{i} {{ x; }};\n");
        }

        var tree = Regressions.Within(HangLimit, () => DtsParser.Parse(source.ToString(), "labels.dts"));
        Assert.NotNull(tree.FindByPath("/n99999")!.FindProperty("x"));
        Assert.Null(tree.FindByPath("/n99998")!.FindProperty("x"));
    }

    [Fact]
    public void Many_path_amendments_and_repeated_root_amendments_cost_linear_time()
    {
        // Found with fuzz/hostile-shapes.py: path lookups and merges scanned every sibling (9 s and 5 s here).
        var paths = new StringBuilder("/dts-v1/;\n/ {\n");
        paths.AppendJoin(string.Empty, Enumerable.Range(0, 100_000).Select(i => $"n{i} {{ }};\n")).Append("};\n");
        paths.AppendJoin(string.Empty, Enumerable.Range(0, 50_000).Select(i => $"&{{/n{2 * i}}} {{ x; }};\n"));
        var tree = Regressions.Within(HangLimit, () => DtsParser.Parse(paths.ToString(), "paths.dts"));
        Assert.NotNull(tree.FindByPath("/n99998")!.FindProperty("x"));

        var amend = new StringBuilder("/dts-v1/;\n/ { a { }; };\n");
        amend.AppendJoin(string.Empty, Enumerable.Range(0, 50_000).Select(i => $"/ {{ a {{ p{i} = <{i}>; }}; }};\n"));
        amend.Append("/ { a { p7 = <70>; /delete-property/ p8; }; };\n");
        tree = Regressions.Within(HangLimit, () => DtsParser.Parse(amend.ToString(), "amend.dts"));
        var a = tree.FindByPath("/a")!;
        Assert.Equal(49_999, a.Properties.Count);
        Assert.Equal("p7", a.Properties[7].Name);
        Assert.Equal(70u, a.Properties[7].GetCell(0));
    }

    [Fact]
    public void Label_lookups_see_labels_and_nodes_that_amendments_add_or_delete_as_dtc_does()
    {
        Dts.DtsTestSupport.AssertSameAsDtc("""
            /dts-v1/;
            / { a: n1 { }; n2 { }; dup: n3 { }; };
            &a { p = <1>; };
            &{/n2} { b: c { }; };
            &b { q = <2>; };
            x: &b { };
            &x { s; };
            / { n4 { dup2: d { }; }; };
            &dup2 { t = <&a>; };
            /delete-node/ &b;
            &{/n2} { c { u; }; };
            &dup { v; };
            """);

        // Past eight children or properties the lookups go through name indexes: same answers, including for
        // deleted entries that a later definition brings back in place.
        var many = new StringBuilder("/dts-v1/;\n/ { big {\n");
        many.AppendJoin(string.Empty, Enumerable.Range(0, 12).Select(i => $"p{i} = <{i}>;\n"));
        many.AppendJoin(string.Empty, Enumerable.Range(0, 12).Select(i => $"c{i} {{ q = <{i}>; }};\n")).Append("}; };\n");
        many.Append("/ { big { /delete-property/ p3; /delete-node/ c4; }; };\n");
        many.Append("&{/big/c5} { r; };\n/ { big { p3 = <33>; p12 = <12>; c4 { s; }; c12 { }; }; };\n");
        many.Append("&{/big/c4} { t; };\n/delete-node/ &{/big/c6};\n&{/big} { p0 = <100>; c6 { u; }; };\n");
        Dts.DtsTestSupport.AssertSameAsDtc(many.ToString());
    }

    [Fact]
    public void A_strings_block_past_64_KiB_is_laid_out_byte_for_byte_as_dtc_does()
    {
        // Found with fuzz/hostile-shapes.py: each new name searched the whole strings block (11 s for 100k names).
        // Past 64 KiB the writer indexes tails instead; names that are tails of earlier ones, long names past the
        // indexed length, and a name first seen after the switch must all land where dtc puts them.
        var source = new StringBuilder("/dts-v1/;\n/ {\n");
        for (var i = 0; i < 3000; i++)
        {
            source.Append($"\tn{i} {{ prop-{i}-abcdefghijklmnop = <1>; {i}-abcdefghijklmnop; p-{i}; ")
                .Append($"{new string('x', 70)}-{i}-{new string('y', 10)} = <2>; {new string('y', 10)}; }};\n");
        }

        source.Append("\tlast { ijklmnop; z; prop-7-abcdefghijklmnop; };\n};\n");
        var dir = Directory.CreateTempSubdirectory("iommulab-strings").FullName;
        var path = Path.Combine(dir, "names.dts");
        File.WriteAllText(path, source.ToString());
        var ours = DtbWriter.Write(DtsParser.ParseFile(path));
        var dtcs = Support.Tools.Dtc("-q", "-I", "dts", "-O", "dtb", path);
        Assert.True(System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(ours.AsSpan(32)) > 64 << 10, "strings block under 64 KiB");
        Assert.Equal(dtcs, ours);
        var big = Regressions.Within(HangLimit, () => DtsParser.Parse(
            "/dts-v1/;\n/ {\n" + string.Concat(Enumerable.Range(0, 100_000).Select(i => $"p{i} = <1>;\n")) + "};\n", "props.dts"));
        Regressions.Within(HangLimit, () => DtbWriter.Write(big));
    }

    [Fact]
    public void A_zero_memreserve_ends_the_compiled_reservation_block_as_dtcs_does()
    {
        // AFL++ `dts`, 18.7M execs: `/memreserve/ 0 0;` is the DTB block's terminator, so it and later entries are
        // gone after compiling (dtc does the same); the harness oracle expected them to survive.
        var path = Path.Combine(Regressions.Folder, "dts-memreserve-zero-terminates.dts");
        var tree = DtsParser.ParseFile(path);
        Assert.Single(tree.MemoryReservations);
        Assert.Empty(DtbReader.Read(DtbWriter.Write(tree), "compiled.dtb").MemoryReservations);
        Assert.Empty(DtbReader.Read(Support.Tools.Dtc("-q", "-I", "dts", "-O", "dtb", path), "dtc.dtb").MemoryReservations);
        Assert.True(FuzzTargets.Run("dts", File.ReadAllBytes(path), Regressions.Folder));
    }

    public static TheoryData<string> Inputs() =>
        [.. Directory.GetFiles(Regressions.Folder).Where(f => !f.EndsWith(".bin", StringComparison.Ordinal)).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Every_regression_input_passes_its_fuzz_target_with_a_result_or_a_typed_error(string name)
    {
        // The file name's prefix names the fuzz target that found (or would find) it.
        var target = name[..name.IndexOf('-', StringComparison.Ordinal)];
        Assert.Contains(target, FuzzTargets.Names);
        // The fixtures name their /incbin/ files relative to their own folder, as `--replay --in` does.
        var input = Regressions.Bytes(name);
        Regressions.Within(HangLimit, () => FuzzTargets.Run(target, input, Regressions.Folder));
    }

    [Fact]
    public void A_typed_error_is_what_the_fuzz_harness_counts_as_expected()
    {
        Assert.False(FuzzTargets.Run("acpi", "NOPE"u8.ToArray(), Path.GetTempPath()));
        Assert.True(FuzzTargets.Run("acpi", Regressions.Bytes("acpi-iort-no-nodes-huge-offset.dat"), Path.GetTempPath()));
        Assert.Throws<ArgumentException>(() => FuzzTargets.Run("nope", [], Path.GetTempPath()));
    }
}
