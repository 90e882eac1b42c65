using System.Text;
using IommuLab.Firmware.Acpi;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.DeviceTree.Dts;
using IommuLab.Tests.Acpi;

namespace IommuLab.Tests.Robustness;

/// <summary>Every limit refuses input just past it with its own error naming the option, and accepts input at it.</summary>
public sealed class LimitTests
{
    private static byte[] Flat(int children, int valueLength = 4)
    {
        var sb = new StringBuilder("/dts-v1/;\n/ {\n");
        for (var i = 0; i < children; i++)
        {
            sb.Append($"\tn{i} {{ v = [{string.Concat(Enumerable.Repeat("00", valueLength))}]; }};\n");
        }

        return DtbWriter.Write(DtsParser.Parse(sb.Append("};\n").ToString(), "flat.dts"));
    }

    [Fact]
    public void Dtb_node_count_limit_counts_the_root_and_names_the_option()
    {
        var blob = Flat(9);
        Assert.Equal(10, DtbReader.Read(blob, "ten", new DtbReaderOptions { MaxNodes = 10 }).AllNodes().Count());
        var e = Assert.Throws<DtbFormatException>(() => DtbReader.Read(blob, "ten", new DtbReaderOptions { MaxNodes = 9 }));
        Assert.Equal(DtbError.TooManyNodes, e.Kind);
        Assert.Contains("expected at most 9 nodes, found node number 10 ('n8'); raise the limit with --max-nodes (DtbReaderOptions.MaxNodes)", e.Message);
        Assert.StartsWith("ten: offset 0x", e.Message);
    }

    [Fact]
    public void Dtb_property_length_limit_names_the_node_and_the_length()
    {
        var blob = Flat(1, valueLength: 100);
        Assert.NotNull(DtbReader.Read(blob, "p", new DtbReaderOptions { MaxPropertyLength = 100 }));
        var e = Assert.Throws<DtbFormatException>(() => DtbReader.Read(blob, "p", new DtbReaderOptions { MaxPropertyLength = 99 }));
        Assert.Equal(DtbError.PropertyTooLong, e.Kind);
        Assert.Contains("/n0: expected a property value of at most 99 bytes, found 100; raise the limit with --max-property-size (DtbReaderOptions.MaxPropertyLength)", e.Message);
    }

    [Fact]
    public void Dtb_depth_limit_defaults_to_the_kernels_64_and_can_be_raised()
    {
        var sb = new StringBuilder("/dts-v1/;\n/ ");
        for (var i = 0; i < 70; i++)
        {
            sb.Append("{ n ");
        }

        sb.Append("{ };").Append(string.Concat(Enumerable.Repeat(" };", 70))).Append('\n');
        var blob = DtbWriter.Write(DtsParser.Parse(sb.ToString(), "deep.dts"));
        Assert.Equal(DtbError.TooDeep, Assert.Throws<DtbFormatException>(() => DtbReader.Read(blob, "deep")).Kind);
        Assert.Equal(70, DtbReader.Read(blob, "deep", new DtbReaderOptions { MaxDepth = 72 }).AllNodes().Max(n => n.Depth));
    }

    [Fact]
    public void Dts_node_count_limit_counts_node_bodies_as_written()
    {
        const string Source = "/dts-v1/;\n/ { a { }; b { }; };\n&{/a} { };\n";
        Assert.NotNull(DtsParser.Parse(Source, "n.dts", new DtsParserOptions { MaxNodes = 4 }));
        var e = Assert.Throws<DtsSyntaxException>(() => DtsParser.Parse(Source, "n.dts", new DtsParserOptions { MaxNodes = 3 }));
        Assert.Equal((3, 7), (e.Line, e.Column));
        Assert.Contains("expected at most 3 node bodies (amendments included), found node body number 4; raise the limit with --max-nodes (DtsParserOptions.MaxNodes)", e.Message);
    }

    [Fact]
    public void Loader_passes_the_dtb_limits_through()
    {
        var e = Assert.Throws<DtbFormatException>(() =>
            DeviceTreeLoader.Load(Flat(3), "loader", dtbOptions: new DtbReaderOptions { MaxNodes = 2 }));
        Assert.Equal(DtbError.TooManyNodes, e.Kind);
    }

    private static byte[] IortWithMappings(int nodes, int mappingsEach)
    {
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(0));
        for (var i = 0; i < nodes - 1; i++)
        {
            var maps = Enumerable.Range(0, mappingsEach).Select(m => new Map((uint)m * 0x100, 0xff, 0, its)).ToArray();
            b.Add(2, 1, IortBuilder.RootComplex((uint)i), maps);
        }

        return b.Build();
    }

    [Fact]
    public void Iort_node_count_limit_names_the_option()
    {
        var table = IortWithMappings(5, 1);
        Assert.Equal(5, ((Firmware.Acpi.Iort.IortTable)AcpiTable.Load(table, "t", new AcpiTableOptions { MaxNodes = 5 })).Nodes.Count);
        var e = Assert.Throws<AcpiFormatException>(() => AcpiTable.Load(table, "t", new AcpiTableOptions { MaxNodes = 4 }));
        Assert.Equal((AcpiTableError.TooManyNodes, 36L), (e.Kind, e.Offset));
        Assert.Contains("expected at most 4 nodes, found a node count of 5; raise the limit with --max-nodes (AcpiTableOptions.MaxNodes)", e.Message);
    }

    [Fact]
    public void Iort_mapping_count_limit_counts_over_the_whole_table()
    {
        var table = IortWithMappings(3, 4);
        Assert.NotNull(AcpiTable.Load(table, "t", new AcpiTableOptions { MaxIdMappings = 8 }));
        var e = Assert.Throws<AcpiFormatException>(() => AcpiTable.Load(table, "t", new AcpiTableOptions { MaxIdMappings = 7 }));
        Assert.Equal(AcpiTableError.TooManyMappings, e.Kind);
        Assert.Contains("expected at most 7 ID mappings in the table, found the root complex node at 0x", e.Message);
        Assert.Contains("bringing the total to 8; raise the limit with --max-mappings (AcpiTableOptions.MaxIdMappings)", e.Message);
    }

    [Fact]
    public void Viot_node_count_limit_names_the_option()
    {
        var b = new ViotBuilder();
        var iommu = b.VirtioPci(0, 8);
        b.PciRange(0, 0, 0, 0, 0xff, iommu);
        var table = b.Build();
        Assert.NotNull(AcpiTable.Load(table, "v", new AcpiTableOptions { MaxNodes = 2 }));
        var e = Assert.Throws<AcpiFormatException>(() => AcpiTable.Load(table, "v", new AcpiTableOptions { MaxNodes = 1 }));
        Assert.Equal(AcpiTableError.TooManyNodes, e.Kind);
    }

    [Fact]
    public void Iort_node_filled_with_mappings_reports_every_end_of_range_overlap()
    {
        // 3274 mappings of 20 bytes after a root complex's fields fill a node's 16-bit length; each ends where the next starts.
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(0));
        var maps = Enumerable.Range(0, 3274).Select(m => new Map((uint)m * 0x10, 0x10, 0, its)).ToArray();
        b.Add(2, 1, IortBuilder.RootComplex(0), maps);
        var table = AcpiTable.Load(b.Build(), "full");
        Assert.Equal(3273, table.Problems.Count(p => p.RuleId == AcpiRules.IortEndOfRangeOverlap));
    }
}
