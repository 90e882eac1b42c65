using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.DeviceTree.Dts;

namespace IommuLab.Tests.Dts;

/// <summary>Language features one at a time, asserting exact bytes and tree shape (and dtc's agreement where it decides).</summary>
public sealed class DtsParserTests
{
    private static Firmware.DeviceTree.DeviceTree Parse(string source) => DtsParser.Parse(source, "test.dts");

    [Fact]
    public void Cells_strings_and_bytes_concatenate_in_order()
    {
        var tree = Parse("/dts-v1/; / { p = \"a\", <1 0x20>, [00 ff], /bits/ 16 <0x1234>; };");
        Assert.Equal([0x61, 0, 0, 0, 0, 1, 0, 0, 0, 0x20, 0x00, 0xff, 0x12, 0x34], DtsTestSupport.Bytes(tree, "/", "p"));
    }

    [Fact]
    public void Integer_literals_accept_hex_octal_decimal_and_c_suffixes()
    {
        var tree = Parse("/dts-v1/; / { p = /bits/ 64 <0x10 010 10 7ULL 0xffffffffffffffff>; };");
        Assert.Equal(
            [0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            DtsTestSupport.Bytes(tree, "/", "p"));
    }

    [Fact]
    public void Character_literals_and_escapes_give_single_bytes()
    {
        var tree = Parse("/dts-v1/; / { p = /bits/ 8 <'a' '\\n' '\\x41' '\\012' '\\'' '\\\\'>; };");
        Assert.Equal([0x61, 0x0a, 0x41, 0x0a, 0x27, 0x5c], DtsTestSupport.Bytes(tree, "/", "p"));
    }

    [Fact]
    public void An_unknown_escape_is_kept_as_the_character_itself_like_dtc()
    {
        var tree = DtsTestSupport.AssertSameAsDtc("/dts-v1/; / { p = \"\\q\\%\"; };");
        Assert.Equal("q%\0"u8.ToArray(), DtsTestSupport.Bytes(tree, "/", "p"));
    }

    [Fact]
    public void Operators_follow_c_precedence()
    {
        var tree = Parse("/dts-v1/; / { p = <(1 + 2 * 3) (1 | 6 & 3) (2 << 1 + 1) (1 ? 2 : 3 ? 4 : 5) (10 - 4 - 3) (!0 + ~0)>; };");
        Assert.Equal([7u, 3u, 8u, 2u, 3u, 0u], new DtProperty("p", DtsTestSupport.Bytes(tree, "/", "p")).GetCells()!);
    }

    [Fact]
    public void Negative_values_fit_a_cell_by_sign_extension()
    {
        var tree = Parse("/dts-v1/; / { p = /bits/ 8 <(-1) (-128)>; q = <(-1)>; };");
        Assert.Equal([0xff, 0x80], DtsTestSupport.Bytes(tree, "/", "p"));
        Assert.Equal([0xff, 0xff, 0xff, 0xff], DtsTestSupport.Bytes(tree, "/", "q"));
    }

    [Fact]
    public void A_value_too_wide_for_its_cell_is_an_error_as_in_dtc()
    {
        var e = DtsTestSupport.AssertBothReject("/dts-v1/; / { p = /bits/ 8 <0x100>; };");
        Assert.Contains("out of range for a 8-bit cell", e.Message);
        Assert.Equal(1, e.Line);
        Assert.Equal(29, e.Column);
    }

    [Fact]
    public void Division_by_zero_is_a_clear_error()
    {
        var e = DtsTestSupport.AssertBothReject("/dts-v1/;\n/ {\n\tp = <(4 / (2 - 2))>;\n};\n");
        Assert.Contains("division by zero", e.Message);
        Assert.Equal((3, 10), (e.Line, e.Column));
        DtsTestSupport.AssertBothReject("/dts-v1/; / { p = <(4 % 0)>; };");
    }

    [Fact]
    public void Literals_wider_than_64_bits_are_rejected()
    {
        var e = DtsTestSupport.AssertBothReject("/dts-v1/; / { p = <0x10000000000000000>; };");
        Assert.Contains("out of range (more than 64 bits)", e.Message);
        DtsTestSupport.AssertBothReject("/dts-v1/; / { p = <18446744073709551616>; };");
        DtsTestSupport.AssertBothReject("/dts-v1/; / { p = <02000000000000000000000>; };");
        Assert.Contains("octal", DtsTestSupport.AssertBothReject("/dts-v1/; / { p = <08>; };").Message);
    }

    [Fact]
    public void Character_literals_must_hold_exactly_one_byte()
    {
        Assert.Contains("empty character literal", DtsTestSupport.AssertBothReject("/dts-v1/; / { p = <''>; };").Message);
        Assert.Contains("expected one character, found 2", DtsTestSupport.AssertBothReject("/dts-v1/; / { p = <'ab'>; };").Message);
    }

    [Fact]
    public void Hex_escape_without_digits_is_an_error()
    {
        var e = DtsTestSupport.AssertBothReject("/dts-v1/; / { p = \"ab\\xg\"; };");
        Assert.Contains("\\x used with no following hex digits", e.Message);
        Assert.Equal(22, e.Column);
    }

    [Fact]
    public void References_in_cells_must_be_32_bits_wide()
    {
        var e = DtsTestSupport.AssertBothReject("/dts-v1/; / { n: n { }; }; / { p = /bits/ 16 <&n>; };");
        Assert.Contains("32-bit", e.Message);
    }

    [Fact]
    public void Bits_size_must_be_8_16_32_or_64()
    {
        DtsTestSupport.AssertBothReject("/dts-v1/; / { p = /bits/ 7 <1>; };");
    }

    [Fact]
    public void Path_reference_outside_cells_gives_the_full_path_with_nul()
    {
        var tree = DtsTestSupport.AssertSameAsDtc("/dts-v1/; / { p = &d, <&d>; soc { d: dart@1 { }; }; };");
        Assert.Equal("/soc/dart@1\0\0\0\0\u0001"u8.ToArray(), DtsTestSupport.Bytes(tree, "/", "p"));
    }

    [Fact]
    public void Phandles_are_allocated_in_reference_order_skipping_explicit_ones()
    {
        var tree = DtsTestSupport.AssertSameAsDtc(
            "/dts-v1/; / { a: a { phandle = <1>; }; b: b { }; c: c { }; u { p = <&c &a &b>; }; };");
        Assert.Equal(2u, tree.FindByPath("/c")!.Phandle);
        Assert.Equal(1u, tree.FindByPath("/a")!.Phandle);
        Assert.Equal(3u, tree.FindByPath("/b")!.Phandle);
        Assert.Equal([2u, 1u, 3u], tree.FindByPath("/u")!.FindProperty("p")!.GetCells()!);
    }

    [Fact]
    public void Allocated_phandle_is_the_last_property_and_not_linux_phandle()
    {
        var tree = DtsTestSupport.AssertSameAsDtc("/dts-v1/; / { u { p = <&n>; }; n: n { a; b = <1>; }; }; &n { c; };");
        Assert.Equal(["a", "b", "c", "phandle"], tree.FindByPath("/n")!.Properties.Select(p => p.Name));
    }

    [Fact]
    public void Amendment_by_label_replaces_property_in_place()
    {
        var tree = DtsTestSupport.AssertSameAsDtc(
            "/dts-v1/; / { d: dart { a = <1>; status = \"disabled\"; z; }; }; &d { status = \"okay\"; new; };");
        var node = tree.FindByPath("/dart")!;
        Assert.Equal(["a", "status", "z", "new"], node.Properties.Select(p => p.Name));
        Assert.Equal("okay", node.FindProperty("status")!.GetString());
    }

    [Fact]
    public void Amendment_by_path_merges_children_recursively()
    {
        var tree = DtsTestSupport.AssertSameAsDtc(
            "/dts-v1/; / { soc { x { a; }; }; }; &{/soc} { x { b; }; y { }; };");
        Assert.Equal(["a", "b"], tree.FindByPath("/soc/x")!.Properties.Select(p => p.Name));
        Assert.Equal(["x", "y"], tree.FindByPath("/soc")!.Children.Select(c => c.Name));
    }

    [Fact]
    public void Labels_are_kept_on_nodes_properties_and_reservations()
    {
        var tree = Parse("/dts-v1/; r: /memreserve/ 1 2; / { a: b: n { p: q = <1>; }; }; c: &a { };");
        Assert.Equal(["a", "b", "c"], tree.FindByPath("/n")!.Labels);
        Assert.Equal(["p"], tree.FindByPath("/n")!.FindProperty("q")!.Labels);
        Assert.Equal(["r"], tree.MemoryReservations.Single().Labels);
        Assert.Same(tree.FindByPath("/n"), tree.FindByLabel("c"));
    }

    [Fact]
    public void Source_positions_point_at_names_after_linemarkers()
    {
        var tree = Parse("/dts-v1/;\n# 40 \"board.dts\"\n/ {\n\tsoc {\n\t\treg = <1>;\n\t};\n};\n");
        Assert.Equal(new SourcePosition("board.dts", 41, 2), tree.FindByPath("/soc")!.SourcePosition);
        Assert.Equal(new SourcePosition("board.dts", 42, 3), tree.FindByPath("/soc")!.FindProperty("reg")!.SourcePosition);
    }

    [Fact]
    public void Memory_reservations_take_expressions_and_plugin_sets_the_flag()
    {
        var tree = Parse("/dts-v1/; /plugin/; /memreserve/ (0x1000 + 0x10) 0x20; / { };");
        Assert.True(tree.IsPlugin);
        Assert.Equal(0u, tree.BootCpuId);
        Assert.Equal((0x1010UL, 0x20UL), (tree.MemoryReservations.Single().Address, tree.MemoryReservations.Single().Size));
        Assert.False(Parse("/dts-v1/; / { };").IsPlugin);
    }

    [Fact]
    public void Header_flags_must_agree_when_dts_v1_is_repeated()
    {
        Assert.False(DtsTestSupport.AssertSameAsDtc("/dts-v1/; /dts-v1/; / { };").IsPlugin);
        DtsTestSupport.AssertBothReject("/dts-v1/; /dts-v1/; /plugin/; / { };");
    }

    [Fact]
    public void Later_definition_of_a_property_in_a_redefined_node_wins()
    {
        var tree = DtsTestSupport.AssertSameAsDtc("/dts-v1/; / { p = <1>; }; / { p = <2>; };");
        Assert.Equal([0, 0, 0, 2], DtsTestSupport.Bytes(tree, "/", "p"));
    }

    [Fact]
    public void Duplicate_property_in_one_block_is_an_error_as_in_dtc()
    {
        Assert.Contains("duplicate property name 'p'", DtsTestSupport.AssertBothReject("/dts-v1/; / { p = <1>; p = <2>; };").Message);
    }

    [Fact]
    public void Duplicate_node_in_one_block_is_an_error_as_in_dtc()
    {
        Assert.Contains("duplicate node name 'n'", DtsTestSupport.AssertBothReject("/dts-v1/; / { n { }; n { }; };").Message);
    }

    [Fact]
    public void Duplicate_labels_on_different_nodes_are_an_error()
    {
        var e = DtsTestSupport.AssertBothReject("/dts-v1/; / { a: x { }; a: y { }; };");
        Assert.Contains("duplicate label 'a'", e.Message);
        DtsTestSupport.AssertBothReject("/dts-v1/; / { a: x { a: p; }; };");
        DtsTestSupport.AssertBothReject("/dts-v1/; / { a: x { }; y { p = <a: 1>; }; };");
    }

    [Fact]
    public void The_same_label_twice_on_one_node_is_fine()
    {
        DtsTestSupport.AssertSameAsDtc("/dts-v1/; / { a: x { }; }; a: &a { }; / { a: x { }; };");
    }

    [Fact]
    public void Reference_to_a_deleted_node_is_an_error()
    {
        var e = DtsTestSupport.AssertBothReject("/dts-v1/; / { a: a { }; b { x = <&a>; }; }; /delete-node/ &a;");
        Assert.Contains("undefined label 'a'", e.Message);
    }

    [Fact]
    public void A_label_freed_by_deletion_can_be_reused()
    {
        DtsTestSupport.AssertSameAsDtc("/dts-v1/; / { a: a { }; }; /delete-node/ &a; / { a: b { }; c { p = <&a>; }; };");
    }

    [Fact]
    public void Reference_to_an_undefined_label_names_file_line_and_column()
    {
        var e = DtsTestSupport.AssertBothReject("/dts-v1/;\n/ {\n\tiommus = <&dart 0>;\n};\n");
        Assert.Equal("bad.dts", Path.GetFileName(e.Source));
        Assert.Equal((3, 12), (e.Line, e.Column));
        Assert.Contains("undefined label 'dart'", e.Message);
        Assert.EndsWith("\tiommus = <&dart 0>;\n    \t          ^", e.Excerpt);
    }

    [Fact]
    public void Amending_an_undefined_label_is_an_error()
    {
        Assert.Contains("'nope'", DtsTestSupport.AssertBothReject("/dts-v1/; / { }; &nope { };").Message);
        Assert.Contains("/x/y", DtsTestSupport.AssertBothReject("/dts-v1/; / { x { }; }; &{/x/y} { };").Message);
        DtsTestSupport.AssertBothReject("/dts-v1/; / { p = &{/missing}; };");
    }

    [Fact]
    public void Path_references_match_exact_node_names_only()
    {
        DtsTestSupport.AssertBothReject("/dts-v1/; / { p = &{/n}; n@1 { }; };");
    }

    [Fact]
    public void Omit_if_no_ref_keeps_referenced_nodes_only()
    {
        var tree = DtsTestSupport.AssertSameAsDtc(
            "/dts-v1/; / { /omit-if-no-ref/ a: a { }; /omit-if-no-ref/ b: b { }; /omit-if-no-ref/ c: c { }; u { p = <&a>; q = &c; }; };");
        Assert.Equal(["a", "c", "u"], tree.Root.Children.Select(c => c.Name));
    }

    [Fact]
    public void Omit_if_no_ref_at_top_level_marks_a_labelled_node()
    {
        var tree = DtsTestSupport.AssertSameAsDtc("/dts-v1/; / { a: a { }; b: b { }; u { p = <&b>; }; }; /omit-if-no-ref/ &a; /omit-if-no-ref/ &b;");
        Assert.Equal(["b", "u"], tree.Root.Children.Select(c => c.Name));
    }

    [Fact]
    public void Deleted_property_comes_back_at_its_old_position_when_redefined()
    {
        var tree = DtsTestSupport.AssertSameAsDtc("/dts-v1/; / { a; b; c; }; / { /delete-property/ b; }; / { d; b; };");
        Assert.Equal(["a", "b", "c", "d"], tree.Root.Properties.Select(p => p.Name));
    }

    [Fact]
    public void Deleted_node_comes_back_at_its_old_position_without_its_old_content()
    {
        var tree = DtsTestSupport.AssertSameAsDtc("/dts-v1/; / { n1 { p; q; }; n2 { }; }; / { /delete-node/ n1; }; / { n1 { q; r; }; };");
        Assert.Equal(["n1", "n2"], tree.Root.Children.Select(c => c.Name));
        Assert.Equal(["q", "r"], tree.FindByPath("/n1")!.Properties.Select(p => p.Name));
    }

    [Fact]
    public void Correct_name_property_is_dropped_and_a_wrong_one_rejected()
    {
        var tree = DtsTestSupport.AssertSameAsDtc("/dts-v1/; / { cpu@0 { name = \"cpu\"; x; }; };");
        Assert.Null(tree.FindByPath("/cpu@0")!.FindProperty("name"));
        DtsTestSupport.AssertBothReject("/dts-v1/; / { n { name = \"other\"; }; };");
    }

    [Fact]
    public void Bad_characters_in_names_are_errors_as_in_dtc()
    {
        DtsTestSupport.AssertBothReject("/dts-v1/; / { n#x { }; };");
        DtsTestSupport.AssertBothReject("/dts-v1/; / { n@1@2 { }; };");
        DtsTestSupport.AssertBothReject("/dts-v1/; / { a@b; };");
    }

    [Fact]
    public void Explicit_phandle_errors_match_dtc()
    {
        DtsTestSupport.AssertBothReject("/dts-v1/; / { n { phandle = <0>; }; };");
        DtsTestSupport.AssertBothReject("/dts-v1/; / { n { phandle = <0xffffffff>; }; };");
        DtsTestSupport.AssertBothReject("/dts-v1/; / { n { phandle = <1>; }; m { phandle = <1>; }; };");
        DtsTestSupport.AssertBothReject("/dts-v1/; / { n { phandle = <1>; linux,phandle = <2>; }; };");
        DtsTestSupport.AssertBothReject("/dts-v1/; / { n { phandle = <1 2>; }; };");
    }

    [Fact]
    public void Properties_must_precede_subnodes()
    {
        var e = DtsTestSupport.AssertBothReject("/dts-v1/; / { n { }; p = <1>; };");
        Assert.Contains("properties must precede subnodes", e.Message);
        DtsTestSupport.AssertBothReject("/dts-v1/; / { n { }; /delete-property/ p; };");
    }

    [Fact]
    public void Labels_cannot_contain_hyphens()
    {
        DtsTestSupport.AssertBothReject("/dts-v1/; / { my-label: n { }; };");
    }

    [Fact]
    public void Dts_v1_must_come_first_and_memreserve_before_the_tree()
    {
        Assert.Contains("/dts-v1/", DtsTestSupport.AssertBothReject("/ { };").Message);
        DtsTestSupport.AssertBothReject("/dts-v1/; / { }; /dts-v1/;");
        DtsTestSupport.AssertBothReject("/dts-v1/; / { }; /memreserve/ 1 2;");
        DtsTestSupport.AssertBothReject("/dts-v1/;");
    }

    [Fact]
    public void Missing_semicolon_is_reported_after_the_value()
    {
        var e = DtsTestSupport.AssertBothReject("/dts-v1/;\n/ {\n\tiommus = <&dart 0>\n};\n");
        Assert.Equal((3, 20), (e.Line, e.Column));
        Assert.Contains("expected ';' after property value, found '}'", e.Message);
        Assert.Equal("    \tiommus = <&dart 0>\n    \t                  ^", e.Excerpt);
        Assert.Contains("bad.dts:3:20: expected ';'", e.Message);
    }

    [Fact]
    public void Unpreprocessed_macro_in_cells_suggests_cpp()
    {
        var e = DtsTestSupport.AssertBothReject("/dts-v1/; / { interrupts = <AIC_IRQ 1>; };");
        Assert.Contains("AIC_IRQ", e.Message);
        Assert.Contains("cpp", e.Message);
    }
}
