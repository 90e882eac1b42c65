using System.Buffers;
using System.Text;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.DeviceTree.Dts;

namespace IommuLab.Tests.Dts;

using DeviceTree = IommuLab.Firmware.DeviceTree.DeviceTree;

/// <summary>Exact text of <see cref="DtsWriter"/> on hand-built trees, one rule per test.</summary>
public sealed class DtsWriterTests
{
    [Fact]
    public void An_empty_tree_is_the_header_a_blank_line_and_the_root()
    {
        var tree = new DeviceTree(new DtNode(""), "t");
        Assert.Equal("/dts-v1/;\n\n/ {\n};\n", DtsWriter.Write(tree));
    }

    [Fact]
    public void A_plugin_gets_a_plugin_line_after_the_version_line()
    {
        var tree = new DeviceTree(new DtNode(""), "t") { IsPlugin = true };
        Assert.Equal("/dts-v1/;\n/plugin/;\n\n/ {\n};\n", DtsWriter.Write(tree));
    }

    [Fact]
    public void Memory_reservations_are_sixteen_digit_hex_pairs_after_a_tab_with_no_blank_line_before_the_root()
    {
        var tree = new DeviceTree(new DtNode(""), "t");
        tree.MemoryReservations.Add(new MemoryReservation(0x1000, 0x2000));
        tree.MemoryReservations.Add(new MemoryReservation(0x0012345678abcdef, ulong.MaxValue));
        Assert.Equal(
            "/dts-v1/;\n\n"
            + "/memreserve/\t0x0000000000001000 0x0000000000002000;\n"
            + "/memreserve/\t0x0012345678abcdef 0xffffffffffffffff;\n"
            + "/ {\n};\n",
            DtsWriter.Write(tree));
    }

    [Fact]
    public void Reservation_labels_come_before_the_keyword()
    {
        var tree = new DeviceTree(new DtNode(""), "t");
        tree.MemoryReservations.Add(new MemoryReservation(1, 2) { Labels = ["a", "b"] });
        Assert.Equal("/dts-v1/;\n\na: b: /memreserve/\t0x0000000000000001 0x0000000000000002;\n/ {\n};\n", DtsWriter.Write(tree));
    }

    [Fact]
    public void Children_are_indented_by_tabs_and_each_is_preceded_by_a_blank_line()
    {
        var root = new DtNode("");
        root.AppendProperty(new DtProperty("p", Cells(1)));
        var a = new DtNode("a@1");
        a.AppendProperty(new DtProperty("x", Cells(2)));
        a.AddChild(new DtNode("inner"));
        root.AddChild(a);
        root.AddChild(new DtNode("b"));
        Assert.Equal(
            "/dts-v1/;\n\n/ {\n\tp = <0x01>;\n\n\ta@1 {\n\t\tx = <0x02>;\n\n\t\tinner {\n\t\t};\n\t};\n\n\tb {\n\t};\n};\n",
            DtsWriter.Write(new DeviceTree(root, "t")));
    }

    [Fact]
    public void A_node_without_properties_has_no_blank_line_before_its_first_child()
    {
        var root = new DtNode("");
        root.AddChild(new DtNode("a"));
        Assert.Equal("/dts-v1/;\n\n/ {\n\n\ta {\n\t};\n};\n", DtsWriter.Write(new DeviceTree(root, "t")));
    }

    [Fact]
    public void An_empty_property_is_its_name_and_a_semicolon()
    {
        Assert.Equal("\tdma-coherent;\n", PropertyLine("dma-coherent", []));
    }

    [Fact]
    public void Labels_on_nodes_and_properties_are_printed_as_dtc_prints_a_dts_source()
    {
        var root = new DtNode("");
        var n = new DtNode("dart@1");
        n.AddLabel("dart0");
        n.AddLabel("alias");
        var p = new DtProperty("reg", Cells(1));
        p.AddLabel("r");
        n.AppendProperty(p);
        root.AddChild(n);
        Assert.Equal(
            "/dts-v1/;\n\n/ {\n\n\tdart0: alias: dart@1 {\n\t\tr: reg = <0x01>;\n\t};\n};\n",
            DtsWriter.Write(new DeviceTree(root, "t")));
    }

    [Theory]
    [InlineData("61 00", "\"a\"")]
    [InlineData("61 00 62 00", "\"a\\0b\"")]
    [InlineData("61 62 00 00", "\"ab\\0\"")]
    [InlineData("00 61 62 00", "\"\\0ab\"")]
    [InlineData("61 62 00 00 63 00", "\"ab\\0\\0c\"")]
    [InlineData("22 5c 00", "\"\\\"\\\\\"")]
    [InlineData("07 08 09 0a 0b 0c 0d 00", "\"\\a\\b\\t\\n\\v\\f\\r\"")]
    [InlineData("20 7e 00", "\" ~\"")]
    public void Printable_nul_terminated_values_are_one_escaped_string(string hex, string expected)
    {
        Assert.Equal(DtsWriter.ValueKind.Strings, DtsWriter.GuessKind(Bytes(hex)));
        Assert.Equal(expected, DtsWriter.FormatValue(Bytes(hex)));
    }

    [Theory]
    [InlineData("00", "[00]")]
    [InlineData("00 00", "[00 00]")]
    [InlineData("00 61 00", "[00 61 00]")]
    [InlineData("61 7f 00", "[61 7f 00]")]
    [InlineData("01 00", "[01 00]")]
    [InlineData("1b 00", "[1b 00]")]
    [InlineData("80 00", "[80 00]")]
    [InlineData("61 62 63", "[61 62 63]")]
    [InlineData("00 00 00 00 00", "[00 00 00 00 00]")]
    [InlineData("ff", "[ff]")]
    public void Values_that_fail_the_string_test_and_are_not_whole_cells_are_bytes(string hex, string expected)
    {
        Assert.Equal(DtsWriter.ValueKind.Bytes, DtsWriter.GuessKind(Bytes(hex)));
        Assert.Equal(expected, DtsWriter.FormatValue(Bytes(hex)));
    }

    [Theory]
    [InlineData("00 00 00 00", "<0x00>")]
    [InlineData("00 00 00 01 00 00 01 00", "<0x01 0x100>")]
    [InlineData("ff ff ff ff 00 00 00 0f", "<0xffffffff 0x0f>")]
    [InlineData("00 01 23 45", "<0x12345>")]
    [InlineData("61 00 00 00", "<0x61000000>")]
    [InlineData("61 c3 a9 00", "<0x61c3a900>")]
    [InlineData("00 00 00 61", "<0x61>")]
    public void Values_that_fail_the_string_test_and_are_whole_cells_are_cells_with_at_least_two_digits(string hex, string expected)
    {
        Assert.Equal(DtsWriter.ValueKind.Cells, DtsWriter.GuessKind(Bytes(hex)));
        Assert.Equal(expected, DtsWriter.FormatValue(Bytes(hex)));
    }

    [Fact]
    public void A_string_test_allows_nul_for_at_most_half_of_the_bytes()
    {
        Assert.Equal(DtsWriter.ValueKind.Strings, DtsWriter.GuessKind(Bytes("61 62 00 00")));
        Assert.Equal(DtsWriter.ValueKind.Cells, DtsWriter.GuessKind(Bytes("61 00 00 00")));
        Assert.Equal(DtsWriter.ValueKind.Strings, DtsWriter.GuessKind(Bytes("61 00 62 00 63 00")));
        Assert.Equal(DtsWriter.ValueKind.Bytes, DtsWriter.GuessKind(Bytes("61 00 00 62 00")));
    }

    [Fact]
    public void A_name_property_repeating_the_base_name_is_dropped_as_dtc_drops_it()
    {
        var root = new DtNode("");
        root.AppendProperty(new DtProperty("name", new byte[] { 0 }));
        var n = new DtNode("serial@1000");
        n.AppendProperty(new DtProperty("name", "serial\0"u8.ToArray()));
        n.AppendProperty(new DtProperty("name2", "serial\0"u8.ToArray()));
        root.AddChild(n);
        var other = new DtNode("uart");
        other.AppendProperty(new DtProperty("name", "serial\0"u8.ToArray()));
        root.AddChild(other);
        Assert.Equal(
            "/dts-v1/;\n\n/ {\n\n\tserial@1000 {\n\t\tname2 = \"serial\";\n\t};\n\n\tuart {\n\t\tname = \"serial\";\n\t};\n};\n",
            DtsWriter.Write(new DeviceTree(root, "t")));
    }

    [Fact]
    public void Streaming_to_a_text_writer_or_a_stream_gives_the_same_text_across_many_chunks()
    {
        var tree = LargeTree();
        var whole = DtsWriter.Write(tree);
        Assert.True(whole.Length > 300_000);

        var sw = new StringWriter();
        DtsWriter.Write(tree, sw);
        Assert.Equal(whole, sw.ToString());

        using var ms = new MemoryStream();
        DtsWriter.Write(tree, ms);
        Assert.Equal(whole, Encoding.UTF8.GetString(ms.ToArray()));

        var abw = new ArrayBufferWriter<byte>(16);
        DtsWriter.Write(tree, abw);
        Assert.Equal(whole, Encoding.UTF8.GetString(abw.WrittenSpan));
    }

    [Fact]
    public void Non_ascii_names_are_written_as_utf8()
    {
        var root = new DtNode("");
        var n = new DtNode("nœud");
        n.AppendProperty(new DtProperty("prøp", Cells(1)));
        root.AddChild(n);
        using var ms = new MemoryStream();
        DtsWriter.Write(new DeviceTree(root, "t"), ms);
        Assert.Equal("/dts-v1/;\n\n/ {\n\n\tnœud {\n\t\tprøp = <0x01>;\n\t};\n};\n", Encoding.UTF8.GetString(ms.ToArray()));
    }

    [Fact]
    public void A_deep_tree_is_written_on_a_small_stack()
    {
        const int depth = 3000;
        var root = new DtNode("");
        var node = root;
        for (var i = 0; i < depth; i++)
        {
            var child = new DtNode("n");
            node.AddChild(child);
            node = child;
        }

        // 64 KiB of stack would not hold 3000 recursive frames; the writer keeps its own stack.
        string? text = null;
        var thread = new Thread(() => text = DtsWriter.Write(new DeviceTree(root, "t")), maxStackSize: 64 * 1024);
        thread.Start();
        thread.Join();
        Assert.NotNull(text);
        Assert.EndsWith("\t};\n};\n", text);
        Assert.Equal(depth + 1, text.Split("};\n").Length - 1);
        Assert.Contains("\n" + new string('\t', depth) + "n {\n" + new string('\t', depth) + "};\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_large_value_is_written_whole()
    {
        var value = new byte[1 << 20];
        value.AsSpan().Fill(0xab);
        var text = DtsWriter.FormatValue(value);
        Assert.Equal((1 << 18) * 11 + 1, text.Length);
        Assert.StartsWith("<0xabababab 0xabababab", text);
    }

    internal static byte[] Bytes(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    internal static byte[] Cells(params uint[] cells)
    {
        var bytes = new byte[cells.Length * 4];
        for (var i = 0; i < cells.Length; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(i * 4), cells[i]);
        }

        return bytes;
    }

    private static string PropertyLine(string name, byte[] value)
    {
        var root = new DtNode("");
        root.AppendProperty(new DtProperty(name, value));
        var text = DtsWriter.Write(new DeviceTree(root, "t"));
        const string prefix = "/dts-v1/;\n\n/ {\n";
        Assert.StartsWith(prefix, text);
        Assert.EndsWith("};\n", text);
        return text[prefix.Length..^3];
    }

    private static DeviceTree LargeTree()
    {
        var root = new DtNode("");
        for (var i = 0; i < 4000; i++)
        {
            var n = new DtNode($"node@{i:x}");
            n.AppendProperty(new DtProperty("compatible", "vendor,thing\0vendor,other\0"u8.ToArray()));
            n.AppendProperty(new DtProperty("reg", Cells((uint)i, 0x1000, 0, 0x100)));
            n.AppendProperty(new DtProperty("blob", new byte[] { 1, 2, (byte)(i & 0xff) }));
            root.AddChild(n);
        }

        return new DeviceTree(root, "large");
    }
}
