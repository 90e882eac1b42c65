using System.Buffers.Binary;
using System.Text;
using IommuLab.Firmware.DeviceTree;

namespace IommuLab.Tests.DeviceTree;

public sealed class DtbReaderTests
{
    /// <summary>/ { compatible = "x"; dart: iommu@0 { #iommu-cells = <1>; phandle = <1>; }; }; with one /memreserve/.</summary>
    private static byte[] Sample()
    {
        var root = new DtNode("");
        root.AppendProperty(new DtProperty("compatible", "x\0"u8.ToArray()));
        var dart = new DtNode("iommu@0");
        dart.AppendProperty(new DtProperty("#iommu-cells", new byte[] { 0, 0, 0, 1 }));
        dart.AppendProperty(new DtProperty("phandle", new byte[] { 0, 0, 0, 1 }));
        root.AddChild(dart);
        var tree = new Firmware.DeviceTree.DeviceTree(root, "sample");
        tree.MemoryReservations.Add(new MemoryReservation(0x1000, 0x2000));
        return DtbWriter.Write(tree);
    }

    private static int StructOff(byte[] b) => (int)BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(8));

    private static int StringsOff(byte[] b) => (int)BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(12));

    private static void Put(byte[] b, int at, uint v) => BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(at), v);

    private static DtbFormatException Rejects(byte[] blob, DtbError kind)
    {
        var ex = Assert.Throws<DtbFormatException>(() => DtbReader.Read(blob, "bad.dtb"));
        Assert.Equal(kind, ex.Kind);
        Assert.StartsWith($"bad.dtb: offset 0x{ex.Offset:x}: ", ex.Message);
        return ex;
    }

    /// <summary>Builds a blob with a hand-written structure block (tokens as u32 words or raw bytes).</summary>
    private static byte[] WithStructure(byte[] structure, string strings = "compatible\0phandle\0")
    {
        var strBytes = Encoding.ASCII.GetBytes(strings);
        const int structOff = 40 + 16;
        var blob = new byte[structOff + structure.Length + strBytes.Length];
        Put(blob, 0, 0xd00dfeed);
        Put(blob, 4, (uint)blob.Length);
        Put(blob, 8, structOff);
        Put(blob, 12, (uint)(structOff + structure.Length));
        Put(blob, 16, 40);
        Put(blob, 20, 17);
        Put(blob, 24, 16);
        Put(blob, 32, (uint)strBytes.Length);
        Put(blob, 36, (uint)structure.Length);
        structure.CopyTo(blob, structOff);
        strBytes.CopyTo(blob, structOff + structure.Length);
        return blob;
    }

    private static byte[] Words(params uint[] words)
    {
        var b = new byte[words.Length * 4];
        for (var i = 0; i < words.Length; i++)
        {
            Put(b, i * 4, words[i]);
        }

        return b;
    }

    [Fact]
    public void A_valid_blob_reads_with_header_facts_reservations_and_phandles()
    {
        var tree = DtbReader.Read(Sample(), "sample.dtb");
        Assert.Equal(17u, tree.Version);
        Assert.Equal([(0x1000ul, 0x2000ul)], tree.MemoryReservations.Select(r => (r.Address, r.Size)));
        var dart = tree.FindByPhandle(1);
        Assert.NotNull(dart);
        Assert.Equal("/iommu@0", dart.Path);
        Assert.Equal(40 + 32, tree.Root.DtbOffset);
    }

    [Fact]
    public void Fdt_nop_tokens_are_skipped()
    {
        var blob = WithStructure(Words(4, 1, 0, 4, 3, 2, 0, 0x78000000, 4, 2, 9));
        var tree = DtbReader.Read(blob, "nop.dtb");
        Assert.Equal("x", Encoding.ASCII.GetString(tree.Root.FindProperty("compatible")!.Value.Span[..1]));
    }

    [Fact]
    public void Properties_separated_by_nops_are_all_found_and_built_once_under_concurrency()
    {
        var blob = WithStructure(Words(1, 0, 3, 2, 0, 0x78000000, 4, 4, 3, 4, 11, 7, 2, 9));
        var tree = DtbReader.Read(blob, "nops.dtb");
        Assert.Null(tree.Root.FindProperty("model"));
        Assert.Equal(tree.Root, tree.FindByPhandle(7));
        var lists = new IReadOnlyList<DtProperty>[8];
        Parallel.For(0, lists.Length, i => lists[i] = tree.Root.Properties);
        Assert.All(lists, l => Assert.Same(lists[0], l));
        Assert.Equal(["compatible", "phandle"], lists[0].Select(p => p.Name));
        Assert.Equal(7u, tree.Root.Phandle);
    }

    [Fact]
    public void The_first_of_phandle_and_linux_phandle_names_the_node()
    {
        var blob = WithStructure(Words(1, 0, 3, 4, 19, 9, 3, 4, 11, 8, 2, 9), "compatible\0phandle\0linux,phandle\0");
        var tree = DtbReader.Read(blob, "legacy.dtb");
        Assert.Equal(9u, tree.Root.Phandle);
        Assert.Equal(tree.Root, tree.FindByPhandle(9));
    }

    [Fact]
    public void A_version_16_header_without_struct_size_is_read()
    {
        var blob = Sample();
        Put(blob, 20, 16);
        Put(blob, 36, 0);
        var tree = DtbReader.Read(blob, "v16.dtb");
        Assert.Equal(16u, tree.Version);
        Assert.NotNull(tree.FindByPath("/iommu@0"));
    }

    [Fact]
    public void An_empty_file_is_too_small() => Rejects([], DtbError.TooSmall);

    [Fact]
    public void A_file_cut_inside_the_header_is_too_small() => Rejects(Sample()[..20], DtbError.TooSmall);

    [Fact]
    public void A_wrong_magic_is_named_with_its_value()
    {
        var blob = Sample();
        blob[0] = 0x7f;
        var ex = Rejects(blob, DtbError.BadMagic);
        Assert.Contains("found 0x7f0dfeed", ex.Message);
    }

    [Fact]
    public void A_totalsize_beyond_the_file_is_rejected()
    {
        var blob = Sample();
        var ex = Rejects(blob[..(blob.Length - 1)], DtbError.TotalSizeBeyondFile);
        Assert.Equal(4, ex.Offset);
    }

    [Fact]
    public void Versions_before_16_are_unsupported()
    {
        var blob = Sample();
        Put(blob, 20, 3);
        Rejects(blob, DtbError.UnsupportedVersion);
    }

    [Fact]
    public void A_structure_block_outside_the_blob_is_rejected()
    {
        var blob = Sample();
        Put(blob, 36, 0x10000);
        Rejects(blob, DtbError.BlockOutOfBounds);
    }

    [Fact]
    public void A_strings_block_outside_the_blob_is_rejected()
    {
        var blob = Sample();
        Put(blob, 12, 0xfffffff0);
        Rejects(blob, DtbError.BlockOutOfBounds);
    }

    [Fact]
    public void Structure_and_strings_blocks_that_overlap_are_rejected()
    {
        var blob = Sample();
        Put(blob, 12, (uint)StructOff(blob) + 8);
        Put(blob, 32, 8);
        Rejects(blob, DtbError.BlocksOverlap);
    }

    [Fact]
    public void A_reservation_block_overlapping_the_structure_is_rejected()
    {
        var blob = Sample();
        Put(blob, 8, 48);
        Put(blob, 36, (uint)(StringsOff(blob) - 48));
        Rejects(blob, DtbError.BlocksOverlap);
    }

    [Fact]
    public void A_misaligned_structure_block_is_rejected()
    {
        var blob = Sample();
        Put(blob, 8, (uint)StructOff(blob) + 2);
        Put(blob, 36, 4);
        Rejects(blob, DtbError.Misaligned);
    }

    [Fact]
    public void A_reservation_block_without_terminator_is_rejected()
    {
        var blob = WithStructure(Words(1, 0, 2, 9));
        Put(blob, 16, (uint)(blob.Length - 8));
        var ex = Assert.Throws<DtbFormatException>(() => DtbReader.Read(blob, "bad.dtb"));
        Assert.True(ex.Kind is DtbError.Misaligned or DtbError.UnterminatedReservations or DtbError.BlocksOverlap, ex.Kind.ToString());
        var filled = Sample();
        filled.AsSpan(40, 32).Fill(0xff);
        Put(filled, 16, 40);
        Assert.Throws<DtbFormatException>(() => DtbReader.Read(filled, "bad.dtb"));
    }

    [Fact]
    public void A_node_name_without_nul_is_unterminated()
    {
        var blob = WithStructure([.. Words(1, 0, 1), .. "abcd"u8]);
        Rejects(blob, DtbError.UnterminatedName);
    }

    [Fact]
    public void A_property_name_offset_into_an_unterminated_tail_is_rejected()
    {
        var blob = WithStructure(Words(1, 0, 3, 0, 19, 2, 9), "compatible\0phandle\0tail");
        Rejects(blob, DtbError.UnterminatedString);
    }

    [Fact]
    public void A_property_name_offset_outside_the_strings_block_is_rejected()
    {
        var ex = Rejects(WithStructure(Words(1, 0, 3, 0, 4096, 2, 9)), DtbError.BlockOutOfBounds);
        Assert.Contains("expected a property name offset inside the strings block (size 0x", ex.Message);
        Assert.Contains("found 0x1000", ex.Message);
    }

    [Fact]
    public void A_property_value_running_past_the_block_is_rejected()
    {
        var ex = Rejects(WithStructure(Words(1, 0, 3, 1000, 0, 2, 9)), DtbError.PropertyPastBlock);
        Assert.Contains("1000 bytes", ex.Message);
    }

    [Fact]
    public void An_unknown_token_is_named_with_its_offset()
    {
        var ex = Rejects(WithStructure(Words(1, 0, 7, 2, 9)), DtbError.UnknownToken);
        Assert.Equal(56 + 8, ex.Offset);
    }

    [Fact]
    public void An_end_node_with_no_open_node_is_unbalanced() =>
        Rejects(WithStructure(Words(1, 0, 2, 2, 9)), DtbError.UnbalancedNode);

    [Fact]
    public void Fdt_end_with_an_open_node_is_unbalanced() =>
        Rejects(WithStructure(Words(1, 0, 9)), DtbError.UnbalancedNode);

    [Fact]
    public void A_structure_without_fdt_end_is_unbalanced() =>
        Rejects(WithStructure(Words(1, 0, 2)), DtbError.UnbalancedNode);

    [Fact]
    public void A_second_root_node_is_unbalanced() =>
        Rejects(WithStructure(Words(1, 0, 2, 1, 0, 2, 9)), DtbError.UnbalancedNode);

    [Fact]
    public void A_property_outside_any_node_is_unbalanced() =>
        Rejects(WithStructure(Words(3, 0, 0, 1, 0, 2, 9)), DtbError.UnbalancedNode);

    [Fact]
    public void Nesting_deeper_than_the_limit_is_rejected_without_recursion()
    {
        const int depth = 100_000;
        var words = new List<uint> { 1, 0 };
        for (var i = 0; i < depth; i++)
        {
            words.AddRange([1, 0x61000000]);
        }

        for (var i = 0; i <= depth; i++)
        {
            words.Add(2);
        }

        words.Add(9);
        var ex = Rejects(WithStructure(Words([.. words])), DtbError.TooDeep);
        Assert.Contains("expected at most 64 levels of nodes counting the root, found one at level 65", ex.Message);
        var shallow = new List<uint> { 1, 0, 1, 0x61000000, 1, 0x61000000, 2, 2, 2, 9 };
        Assert.NotNull(DtbReader.Read(WithStructure(Words([.. shallow])), "ok.dtb").FindByPath("/a/a"));
    }

    [Fact]
    public void Two_nodes_with_the_same_phandle_are_rejected()
    {
        var ex = Rejects(WithStructure(Words(
            1, 0,
            1, 0x61000000, 3, 4, 11, 5, 2,
            1, 0x62000000, 3, 4, 11, 5, 2,
            2, 9)), DtbError.DuplicatePhandle);
        Assert.Contains("/b: expected a unique phandle, found phandle 0x5, which is already used by /a", ex.Message);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(0xffffffffu)]
    public void Reserved_phandle_values_are_rejected(uint value)
    {
        var ex = Rejects(WithStructure(Words(1, 0, 1, 0x61000000, 3, 4, 11, value, 2, 2, 9)), DtbError.InvalidPhandle);
        Assert.Contains("is reserved", ex.Message);
    }

    [Fact]
    public void Duplicate_property_and_child_names_are_rejected()
    {
        Rejects(WithStructure(Words(1, 0, 3, 0, 0, 3, 0, 0, 2, 9)), DtbError.DuplicateName);
        Rejects(WithStructure(Words(1, 0, 1, 0x61000000, 2, 1, 0x61000000, 2, 2, 9)), DtbError.DuplicateName);
    }

    [Fact]
    public void Every_single_byte_corruption_of_a_real_blob_gives_a_tree_or_a_typed_error()
    {
        var blob = Sample();
        for (var i = 0; i < blob.Length; i++)
        {
            foreach (var value in new byte[] { 0x00, 0x01, 0x7f, 0xff })
            {
                var bad = (byte[])blob.Clone();
                bad[i] = value;
                try
                {
                    DtbReader.Read(bad, "mutant.dtb");
                }
                catch (DtbFormatException)
                {
                }
            }
        }

        for (var len = 0; len < blob.Length; len++)
        {
            Assert.Throws<DtbFormatException>(() => DtbReader.Read(blob[..len], "truncated.dtb"));
        }
    }
}
