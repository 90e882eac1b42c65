using System.Text;
using IommuLab.Firmware.DeviceTree.Dts;

namespace IommuLab.Tests.Dts;

/// <summary>Malformed and hostile sources end in a DtsSyntaxException with a position: never a crash or a hang.</summary>
public sealed class DtsHostileInputTests
{
    [Theory]
    [InlineData("/dts-v1/; / { p = \"abc; };", "unterminated string", 19)]
    [InlineData("/dts-v1/; / { p = <1 2; };", "unterminated cell array", 19)]
    [InlineData("/dts-v1/; / { p = [00 11; };", "unterminated byte string", 19)]
    [InlineData("/dts-v1/; / { p = <'a>; };", "unterminated character literal", 20)]
    [InlineData("/dts-v1/; /* never closed / { };", "unterminated comment", 11)]
    [InlineData("/dts-v1/; / { n {  };", "not closed", 22)]
    [InlineData("/dts-v1/; / { p = <(1 + 2>; };", "expected a number", 27)]
    [InlineData("/dts-v1/; / { p = <(1 + 2 >; };", "expected a number", 28)]
    [InlineData("/dts-v1/; / { p = <(1 + 2 3)>; };", "expected ')'", 27)]
    [InlineData("/dts-v1/; / { p = [001]; };", "hex digits", 22)]
    [InlineData("/dts-v1/; / { p = ; };", "expected a property value", 19)]
    [InlineData("/dts-v1/; / { p = &{bad}; };", "&{/path", 19)]
    [InlineData("/dts-v1/; / { p = <'ab'>; };", "found 2", 20)]
    [InlineData("/dts-v1/; / { p = <08>; };", "found '08'", 20)]
    [InlineData("/dts-v1/; / { p = /bits/ 64 <0x1ffffffffffffffff>; };", "found '0x1ffffffffffffffff'", 30)]
    [InlineData("/dts-v1/; / { p = \"\\xzz\"; };", "expected 1 or 2 hex digits, found 'z'", 20)]
    public void Malformed_source_is_reported_with_its_column(string source, string message, int column)
    {
        var e = DtsTestSupport.AssertBothReject(source);
        Assert.Contains(message, e.Message);
        // The error style guide (README): what was expected, then what was found.
        Assert.Matches("expected .+, found .+", e.Message);
        Assert.Equal((1, column), (e.Line, e.Column));
        Assert.EndsWith("^", e.Excerpt);
    }

    [Fact]
    public void Cpp_include_directive_tells_the_user_to_run_cpp()
    {
        var e = DtsTestSupport.AssertBothReject("/dts-v1/;\n#include <dt-bindings/gpio/gpio.h>\n/ { };\n");
        Assert.Equal((2, 1), (e.Line, e.Column));
        Assert.Contains("cpp -nostdinc -undef -D__DTS__ -x assembler-with-cpp", e.Message);
        foreach (var directive in (string[])["#define X 1", "  #if 0", "#ifdef X", "#endif", "#undef X", "#pragma once"])
        {
            Assert.Contains("preprocessor", DtsTestSupport.Reject($"/dts-v1/;\n{directive}\n/ {{ }};\n").Message);
        }
    }

    [Fact]
    public void Hash_property_names_at_line_start_are_not_directives()
    {
        var tree = DtsTestSupport.AssertSameAsDtc("/dts-v1/;\n/ {\n#address-cells = <1>;\n#size-cells = <0>;\n};\n");
        Assert.Equal(["#address-cells", "#size-cells"], tree.Root.Properties.Select(p => p.Name));
    }

    [Fact]
    public void Linemarkers_from_cpp_set_file_and_line_of_errors()
    {
        var e = DtsTestSupport.AssertBothReject("# 1 \"board.dts\"\n/dts-v1/;\n# 7 \"soc.dtsi\" 1\n/ {\n\tp = <&missing>;\n};\n");
        Assert.Equal("soc.dtsi", e.Source);
        Assert.Equal((8, 7), (e.Line, e.Column));
        var e2 = DtsTestSupport.Reject("/dts-v1/;\n#line 100\n/ { p = <1 2>, ; };\n");
        Assert.Equal(100, e2.Line);
    }

    [Fact]
    public void Deeply_nested_parentheses_hit_the_expression_limit()
    {
        var source = "/dts-v1/; / { p = <" + new string('(', 100_000) + "1" + new string(')', 100_000) + ">; };";
        Assert.Contains("raise the limit with --max-expression-depth", DtsTestSupport.Reject(source).Message);
        var unary = "/dts-v1/; / { p = <(" + string.Concat(Enumerable.Repeat("- ", 100_000)) + "1)>; };";
        Assert.Contains("raise the limit with --max-expression-depth", DtsTestSupport.Reject(unary).Message);
        var ternary = "/dts-v1/; / { p = <(" + string.Concat(Enumerable.Repeat("1 ? 1 : ", 100_000)) + "1)>; };";
        Assert.Contains("raise the limit with --max-expression-depth", DtsTestSupport.Reject(ternary).Message);
    }

    [Fact]
    public void Parentheses_within_the_limit_are_fine()
    {
        var source = "/dts-v1/; / { p = <" + new string('(', 200) + "7" + new string(')', 200) + ">; };";
        Assert.Equal([0, 0, 0, 7], DtsTestSupport.Bytes(DtsParser.Parse(source, "t.dts"), "/", "p"));
    }

    [Fact]
    public void Deeply_nested_nodes_hit_the_node_limit()
    {
        var sb = new StringBuilder("/dts-v1/; / {");
        for (var i = 0; i < 100_000; i++)
        {
            sb.Append(" n {");
        }

        var e = DtsTestSupport.Reject(sb.ToString());
        Assert.Contains("raise the limit with --max-depth", e.Message);
    }

    [Fact]
    public void Amendments_cannot_build_a_tree_deeper_than_the_limit()
    {
        var options = new DtsParserOptions { MaxNodeDepth = 8 };
        var source = "/dts-v1/; / { a { b { c { d { x: e { }; }; }; }; }; }; &x { f { g { h { i { }; }; }; }; };";
        Assert.Contains("raise the limit with --max-depth", DtsTestSupport.Reject(source, options: options).Message);
    }

    [Fact]
    public void Include_cycle_is_an_error_not_a_hang()
    {
        using var dir = new DtsTestSupport.TempDir();
        dir.Write("a.dtsi", "/include/ \"b.dtsi\"\n");
        dir.Write("b.dtsi", "/ { };\n/include/ \"a.dtsi\"\n");
        var main = dir.Write("main.dts", "/dts-v1/;\n/include/ \"a.dtsi\"\n");
        var e = Assert.Throws<DtsSyntaxException>(() => DtsParser.ParseFile(main));
        Assert.Contains("include cycle", e.Message);
        Assert.EndsWith("b.dtsi", e.Source);
        Assert.Equal(2, e.Line);
    }

    [Fact]
    public void Include_depth_is_limited()
    {
        using var dir = new DtsTestSupport.TempDir();
        for (var i = 0; i < 10; i++)
        {
            dir.Write($"f{i}.dtsi", $"/include/ \"f{i + 1}.dtsi\"\n");
        }

        dir.Write("f10.dtsi", "/ { };\n");
        var main = dir.Write("main.dts", "/dts-v1/;\n/include/ \"f0.dtsi\"\n");
        Assert.NotNull(DtsParser.ParseFile(main));
        var e = Assert.Throws<DtsSyntaxException>(() => DtsParser.ParseFile(main, new DtsParserOptions { MaxIncludeDepth = 5 }));
        Assert.Contains("raise the limit with --max-include-depth", e.Message);
    }

    [Fact]
    public void Missing_include_file_is_an_error_naming_the_file()
    {
        var e = DtsTestSupport.AssertBothReject("/dts-v1/;\n/include/ \"nowhere.dtsi\"\n/ { };\n");
        Assert.Contains("nowhere.dtsi", e.Message);
        Assert.Equal(2, e.Line);
    }

    [Fact]
    public void Include_from_a_search_path_and_errors_inside_it_name_the_included_file()
    {
        using var dir = new DtsTestSupport.TempDir();
        dir.Write("inc/board.dtsi", "/ {\n\tp = <1 2>\n};\n");
        var main = dir.Write("main.dts", "/dts-v1/;\n/include/ \"board.dtsi\"\n");
        var e = Assert.Throws<DtsSyntaxException>(() =>
            DtsParser.ParseFile(main, new DtsParserOptions { IncludePaths = [Path.Combine(dir.Path, "inc")] }));
        Assert.EndsWith("board.dtsi", e.Source);
        Assert.Equal((2, 11), (e.Line, e.Column));
    }

    [Fact]
    public void Random_garbage_never_escapes_as_anything_but_a_syntax_error()
    {
        var random = new Random(1234);
        const string alphabet = "/dts-v1;{}<>[]()=&:,\"'\\ \n\tabcxyz0123456789#@+-*%!~^|?";
        var seeds = new[]
        {
            "/dts-v1/; / { a: n@1 { p = <1 (2 + 3) &a>, \"s\\x41\", [00 11]; }; }; &a { q; };",
            "/dts-v1/; /plugin/; &x { y = <&z>; }; / { /delete-node/ k; };",
        };
        for (var i = 0; i < 3000; i++)
        {
            var chars = seeds[i % seeds.Length].ToCharArray();
            for (var k = random.Next(1, 6); k > 0; k--)
            {
                chars[random.Next(chars.Length)] = alphabet[random.Next(alphabet.Length)];
            }

            try
            {
                DtsParser.Parse(new string(chars), "fuzz.dts");
            }
            catch (DtsSyntaxException e)
            {
                Assert.True(e.Line >= 1 && e.Column >= 1, e.Message);
            }
        }
    }

    [Fact]
    public void A_very_long_flat_input_parses_into_every_node()
    {
        var sb = new StringBuilder("/dts-v1/;\n/ {\n");
        for (var i = 0; i < 20_000; i++)
        {
            sb.Append("\tnode@").Append(i.ToString("x")).Append(" {\n\t\treg = <0x").Append(i.ToString("x"))
              .Append(" 0x1000>;\n\t\tcompatible = \"vendor,dev\", \"generic\";\n\t};\n");
        }

        sb.Append("};\n");
        var tree = DtsParser.Parse(sb.ToString(), "big.dts");
        Assert.Equal(20_000, tree.Root.Children.Count);
        Assert.Equal("/node@4e1f", tree.Root.Children[^1].Path);
    }
}
