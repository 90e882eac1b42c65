using System.Text;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.DeviceTree.Dts;
using IommuLab.Tests.Support;

namespace IommuLab.Tests.Dts;

using DeviceTree = IommuLab.Firmware.DeviceTree.DeviceTree;

/// <summary><see cref="DtsWriter"/> against dtc 1.6.1 itself on the same bytes.</summary>
public sealed class DtsWriterDtcTests
{
    /// <summary>Values at the edges of dtc's string / cells / bytes guess, found by experiment.</summary>
    public static TheoryData<string> TrickyValues => new()
    {
        "", "00", "00 00", "00 00 00", "00 00 00 00", "00 00 00 00 00",
        "61 00", "61 62 00", "61 00 62 00", "61 62 00 00", "61 00 00 00", "61 00 00", "00 61 00", "00 61 62 00",
        "61 62 00 00 63 00", "61 00 00 62 00", "61 62 63", "61 62 63 64", "61 62 63 64 00",
        "22 5c 00", "07 08 09 0a 0b 0c 0d 00", "06 00", "0e 00", "1b 00", "1f 20 00", "20 00", "7e 00", "7f 00",
        "61 80 00", "61 c3 a9 00", "c3 a9 00 00", "ff", "ff ff ff ff", "00 00 00 01", "00 00 01 00", "00 01 00 00",
        "00 00 00 0f", "00 00 00 10", "0f ff ff ff", "10 00 00 00", "00 00 00 00 ff ff ff ff",
        "61 00 62 00 63 00 00 00", "2f 00", "3c 3e 5b 5d 7b 7d 3b 00", "25 73 25 6e 00",
    };

    [Theory]
    [MemberData(nameof(TrickyValues))]
    public void A_value_is_printed_exactly_as_dtc_prints_it_from_a_dtb(string hex)
    {
        var root = new DtNode("");
        root.AppendProperty(new DtProperty("v", DtsWriterTests.Bytes(hex)));
        AssertSameAsDtc(new DeviceTree(root, hex));
    }

    [Fact]
    public void A_tree_with_reservations_nesting_and_name_properties_is_printed_exactly_as_dtc_prints_it()
    {
        var root = new DtNode("");
        root.AppendProperty(new DtProperty("#address-cells", DtsWriterTests.Cells(2)));
        root.AppendProperty(new DtProperty("name", new byte[] { 0 }));
        var soc = new DtNode("soc@0");
        soc.AppendProperty(new DtProperty("name", "soc\0"u8.ToArray()));
        soc.AppendProperty(new DtProperty("compatible", "simple-bus\0"u8.ToArray()));
        var leaf = new DtNode("dart@382f00000");
        leaf.AppendProperty(new DtProperty("reg", DtsWriterTests.Cells(3, 0x82f00000, 0, 0x4000)));
        leaf.AppendProperty(new DtProperty("dma-coherent", ReadOnlyMemory<byte>.Empty));
        leaf.AddChild(new DtNode("empty"));
        soc.AddChild(leaf);
        soc.AddChild(new DtNode("sibling"));
        root.AddChild(soc);
        root.AddChild(new DtNode("chosen"));
        var tree = new DeviceTree(root, "hand-built");
        tree.MemoryReservations.Add(new MemoryReservation(0x80000000, 0x100000));
        tree.MemoryReservations.Add(new MemoryReservation(ulong.MaxValue, 1));
        AssertSameAsDtc(tree);
    }

    /// <summary>
    /// dtc prints labels for DTS input with <c>-I dts -O dts</c>; on a source we wrote, whose values have no
    /// source types beyond what we print, dtc gives our text back unchanged.
    /// </summary>
    [Fact]
    public void Dtc_reprints_our_labelled_text_unchanged()
    {
        var root = new DtNode("");
        root.AppendProperty(new DtProperty("model", "board\0"u8.ToArray()));
        var n = new DtNode("dart@1");
        n.AddLabel("dart0");
        n.AddLabel("iommu");
        var reg = new DtProperty("reg", DtsWriterTests.Cells(1, 0x4000));
        reg.AddLabel("dart_reg");
        n.AppendProperty(reg);
        n.AppendProperty(new DtProperty("blob", new byte[] { 1, 2, 3 }));
        var child = new DtNode("sub");
        child.AddLabel("sub0");
        n.AddChild(child);
        root.AddChild(n);
        var tree = new DeviceTree(root, "labelled");
        tree.MemoryReservations.Add(new MemoryReservation(0x1000, 0x2000) { Labels = ["rsv"] });
        var ours = DtsWriter.Write(tree);
        Assert.Contains("dart0: iommu: dart@1 {", ours, StringComparison.Ordinal);
        var dtc = Tools.Run("dtc", ["-q", "-I", "dts", "-O", "dts", "-"], Encoding.UTF8.GetBytes(ours));
        Assert.Equal(0, dtc.ExitCode);
        Assert.Equal(ours, Encoding.UTF8.GetString(dtc.Stdout));
    }

    /// <summary>A label put on the root through <c>label: &amp;{/}</c> is printed before "/ {", as dtc does.</summary>
    [Fact]
    public void A_root_label_is_printed_before_the_slash_as_dtc_prints_it()
    {
        var source = "/dts-v1/;\n/ { a { }; };\nl0: &{/} { x; };\nl1: &{/a} { };\n";
        var dtc = Tools.Run("dtc", ["-q", "-I", "dts", "-O", "dts", "-"], Encoding.UTF8.GetBytes(source));
        Assert.Equal(0, dtc.ExitCode);

        var root = new DtNode("");
        root.AddLabel("l0");
        root.AppendProperty(new DtProperty("x", ReadOnlyMemory<byte>.Empty));
        var a = new DtNode("a");
        a.AddLabel("l1");
        root.AddChild(a);
        var ours = DtsWriter.Write(new DeviceTree(root, "labelled root"));
        Assert.Equal("/dts-v1/;\n\nl0: / {\n\tx;\n\n\tl1: a {\n\t};\n};\n", ours);
        Assert.Equal(Encoding.UTF8.GetString(dtc.Stdout), ours);
    }

    /// <summary>
    /// The one place we differ from dtc 1.6.1 on purpose: dtc forgets /plugin/ when it prints a DTS (so its
    /// text compiles back to a base tree); we keep it, on the line after /dts-v1/.
    /// </summary>
    [Fact]
    public void A_plugin_keeps_its_plugin_line_which_dtc_1_6_1_drops()
    {
        var tree = new DeviceTree(new DtNode(""), "overlay") { IsPlugin = true };
        var ours = DtsWriter.Write(tree);
        var dtc = Tools.Run("dtc", ["-q", "-I", "dts", "-O", "dts", "-"], Encoding.UTF8.GetBytes(ours));
        Assert.Equal(0, dtc.ExitCode);
        Assert.Equal("/dts-v1/;\n/plugin/;\n\n/ {\n};\n", ours);
        Assert.Equal(ours.Replace("/plugin/;\n", "", StringComparison.Ordinal), Encoding.UTF8.GetString(dtc.Stdout));
    }

    private static void AssertSameAsDtc(DeviceTree tree)
    {
        var dtc = Tools.Run("dtc", ["-q", "-I", "dtb", "-O", "dts", "-"], DtbWriter.Write(tree));
        Assert.True(dtc.ExitCode == 0, dtc.Stderr);
        Assert.Equal(Encoding.UTF8.GetString(dtc.Stdout), DtsWriter.Write(tree));
    }
}
