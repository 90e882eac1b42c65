using System.Text;
using IommuLab.Firmware.Acpi;
using IommuLab.Firmware.Acpi.Iort;
using IommuLab.Firmware.Acpi.Viot;
using IommuLab.Tests.Support;
using Xunit.Abstractions;

namespace IommuLab.Tests.Acpi;

[Trait("Category", "Corpus")]
public sealed class AcpiCorpusTests(ITestOutputHelper output)
{
    private static IortTable Iort(string path) => Assert.IsType<IortTable>(AcpiTable.LoadFile(path));

    [Fact]
    public void Every_qemu_iort_and_viot_table_parses_with_a_valid_checksum()
    {
        var files = Corpus.IortFiles("qemu", "*.dat").Where(f => f.Contains("IORT") || f.Contains("VIOT")).ToList();
        Assert.Equal(10, files.Count);
        foreach (var file in files)
        {
            var table = AcpiTable.LoadFile(file);
            Assert.True(table.Header.ChecksumValid, file);
            Assert.Contains(table.Header.Signature, Path.GetFileName(file));
            var nodes = table is IortTable i ? i.Nodes.Count : ((ViotTable)table).Nodes.Count;
            output.WriteLine($"{Path.GetFileName(file)}: {table.Header.Signature} rev {table.Header.Revision}, {nodes} nodes, problems: {string.Join("; ", table.Problems.Select(p => p.RuleId))}");
        }
    }

    [Fact]
    public void Other_qemu_tables_are_refused_by_signature()
    {
        var files = Corpus.IortFiles("qemu", "*.dat").Where(f => !f.Contains("IORT") && !f.Contains("VIOT")).ToList();
        Assert.Equal(3, files.Count);
        foreach (var file in files)
        {
            var e = Assert.Throws<AcpiFormatException>(() => AcpiTable.LoadFile(file));
            Assert.Equal(AcpiTableError.UnsupportedSignature, e.Kind);
            var signature = Encoding.ASCII.GetString(File.ReadAllBytes(file), 0, 4);
            Assert.Contains($"found \"{signature}\"", e.Message);
            output.WriteLine(e.Message);
        }
    }

    [Fact]
    public void Qemu_iort_revision_3_has_its_root_complex_and_smmuv3()
    {
        var t = Iort(Corpus.IortFiles("qemu", "qemu10.2-IORT.dat").Single());
        Assert.Equal(3, t.Header.Revision);
        Assert.Contains(t.Nodes, n => n is IortItsGroup);
        var rc = Assert.Single(t.RootComplexes);
        Assert.Equal(0u, rc.PciSegment);
        Assert.NotNull(rc.MemoryAddressLimit);
    }

    [Fact]
    public void Qemu_smmuv3_dev_sends_rids_0_to_1ff_to_the_first_smmu_1000_to_10ff_to_the_second_and_the_rest_to_the_its_only()
    {
        var t = Iort(Corpus.IortFiles("qemu", "qemu10.2-IORT.smmuv3-dev.dat").Single());
        var smmus = t.Nodes.OfType<IortSmmuV3>().ToList();
        Assert.Equal(2, smmus.Count);
        var counts = new Dictionary<string, int>();
        for (var rid = 0; rid <= 0xffff; rid++)
        {
            var r = t.ResolvePci(0, (ushort)rid);
            Assert.NotNull(r.RootComplex);
            if (rid <= 0x1ff)
            {
                Assert.Same(smmus[0], r.Iommu);
                Assert.Equal((uint)rid, r.StreamId);
            }
            else if (rid is >= 0x1000 and <= 0x10ff)
            {
                Assert.Same(smmus[1], r.Iommu);
                Assert.Equal((uint)rid, r.StreamId);
            }
            else
            {
                // The RC maps these IDs straight to the ITS group, which has no mappings: no IOMMU (-ENODEV).
                Assert.Null(r.Iommu);
                Assert.Equal(IortWalkEnd.NoMappings, r.Walk!.End);
                Assert.IsType<IortItsGroup>(r.Walk.StoppedAt);
            }

            var key = r.Iommu is null ? $"none (stops at {IortTable.TypeName(r.Walk!.StoppedAt.Header.RawType)})" : $"SMMUv3 @0x{r.Iommu.Offset:x}";
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }

        Assert.Null(t.ResolvePci(1, 0).RootComplex);
        foreach (var (k, v) in counts)
        {
            output.WriteLine($"{k}: {v} RIDs");
        }
    }

    [Fact]
    public void Every_laptop_table_parses_and_gpu0_reaches_both_smmus()
    {
        var files = Corpus.IortFiles("laptops", "*.dat");
        Assert.Equal(25, files.Count);
        foreach (var file in files)
        {
            var t = Iort(file);
            var smmus = t.Iommus.ToList();
            Assert.InRange(smmus.Count, 2, 3);
            var gpu = t.FindNamedComponent(@"\_SB.GPU0");
            Assert.NotNull(gpu);

            // With an input ID (iort_nc_iommu_map_id), each mapping's first input ID reaches an SMMU.
            // Without an input ID (iort_nc_iommu_map), what Linux does for the platform device.
            var nc = t.ResolveNamedComponent(gpu.ObjectName);
            var perSmmu = new Dictionary<int, List<string>>();
            foreach (var map in gpu.Mappings)
            {
                var walk = t.ResolveNamedComponent(gpu.ObjectName, map.InputBase)!;
                Assert.NotNull(walk.Target);
                var list = perSmmu.TryGetValue(walk.Target.Offset, out var l) ? l : perSmmu[walk.Target.Offset] = [];
                list.Add($"0x{map.InputBase:x}{(map.IdCount > 0 ? $"+{map.IdCount}" : "")}->0x{walk.IdOut:x}");
            }

            // GPU0 reaches two distinct SMMU instances (some tables describe a third SMMU it does not use).
            Assert.Equal(2, perSmmu.Count);

            var singles = gpu.Mappings.Count(m => m.SingleMapping);

            // None of GPU0's mappings is a single mapping, so the no-ID loop finds nothing at index 0.
            Assert.Equal(0, singles);
            Assert.Empty(nc.Steps);
            Assert.Equal((IortNcEnd.GetIdFailed, IortGetIdEnd.NotSingleMapping, (int?)0), (nc.End, nc.GetIdEnd, nc.EndIndex));
            var kernel = nc.Steps.Count == 0
                ? $"no-ID loop: -ENODEV at index {nc.EndIndex} ({nc.End}/{nc.GetIdEnd})"
                : $"no-ID loop: {string.Join(", ", nc.Outputs.Select(o => $"SMMU@0x{o.Iommu.Offset:x}:0x{o.StreamId:x}"))} then {nc.End}/{nc.GetIdEnd} at index {nc.EndIndex}";
            var smmuText = string.Join("; ", perSmmu.Select(kv =>
                $"{Describe(t.NodeAt((uint)kv.Key)!)} <- {kv.Value.Count} mappings [{string.Join(" ", kv.Value.Take(4))}{(kv.Value.Count > 4 ? " ..." : "")}]"));
            output.WriteLine($"{Path.GetFileName(file)}: rev {t.Header.Revision}, {t.Nodes.Count} nodes, SMMUs {string.Join("+", smmus.Select(s => IortTable.TypeName(s.Header.RawType)))}, {t.NamedComponents.Count()} NCs, checksum {(t.Header.ChecksumValid ? "ok" : "BAD")}; GPU0: {gpu.Mappings.Count} mappings ({singles} single, ID counts {string.Join("/", gpu.Mappings.Select(m => m.IdCount).Distinct().Order())}); {smmuText}; {kernel}; problems: {string.Join(",", t.Problems.Select(p => p.RuleId).Distinct())}");
        }
    }

    private static string Describe(IortNode n) => n switch
    {
        IortSmmu s => $"SMMUv1/v2@0x{s.Offset:x} (base 0x{s.BaseAddress:x})",
        IortSmmuV3 s => $"SMMUv3@0x{s.Offset:x} (base 0x{s.BaseAddress:x})",
        _ => $"{IortTable.TypeName(n.Header.RawType)}@0x{n.Offset:x}",
    };

    [Fact]
    public void The_malformed_laptop_table_gives_a_length_error_at_offset_4()
    {
        var file = Corpus.IortFiles("malformed", "*.dat").Single();
        var e = Assert.Throws<AcpiFormatException>(() => AcpiTable.LoadFile(file));
        Assert.Equal(AcpiTableError.LengthBeyondData, e.Kind);
        Assert.Equal(4, e.Offset);
        Assert.StartsWith($"{file}: offset 0x4: expected a table length of at most", e.Message);
        output.WriteLine(e.Message);
    }

    [Fact]
    public void The_iasl_template_parses_with_every_node_type_up_to_pmcg_and_null_references_reported()
    {
        var t = Iort(Corpus.IortFiles("iasl", "*.aml").Single());
        Assert.Equal(
            [IortNodeType.ItsGroup, IortNodeType.NamedComponent, IortNodeType.RootComplex, IortNodeType.Smmu, IortNodeType.SmmuV3, IortNodeType.Pmcg],
            t.Nodes.Select(n => n.Type));
        Assert.Equal(@"\_SB.PCI0.DEV0", t.NamedComponents.Single().ObjectName);
        Assert.Equal(5, t.Problems.Count(p => p.RuleId == AcpiRules.IortNullOutputReference));
        var nc = t.ResolveNamedComponent(@"\_SB.PCI0.DEV0");
        Assert.Empty(nc.Steps);
        Assert.Equal(IortGetIdEnd.NullReference, nc.GetIdEnd);
        foreach (var p in t.Problems)
        {
            output.WriteLine($"{p.RuleId} @0x{p.Offset:x}: {p.Message}");
        }
    }
}
