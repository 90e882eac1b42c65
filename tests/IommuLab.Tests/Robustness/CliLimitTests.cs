using System.Text;
using IommuLab.Cli;
using IommuLab.Firmware;
using IommuLab.Firmware.Acpi;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.DeviceTree.Dts;
using IommuLab.Tests.Acpi;

namespace IommuLab.Tests.Robustness;

/// <summary>
/// Each --max-* switch: input past the limit gives the documented one-line error (file, where, expected, found,
/// the switch) and exit 2; raising the limit with the switch makes the same input load.
/// </summary>
public sealed class CliLimitTests
{
    private readonly string _dir = Directory.CreateTempSubdirectory("iommulab-limits").FullName;

    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = CliApp.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string Write(string name, string text) => Write(name, Encoding.UTF8.GetBytes(text));

    /// <summary>
    /// The limit error is the first line of stderr: "FILE: LOCATION: expected ..., found ...; raise the limit with SWITCH (Option)",
    /// followed only by a DTS excerpt (indented) when the input is source text; the same input with the switch raised loads.
    /// </summary>
    private static string AssertLimitThenLoads(string[] refused, string[] raised, string file, string location, string @switch)
    {
        var (code, output, err) = Cli(refused);
        Assert.True(code == CliApp.ExitBadInput, $"iommulab {string.Join(' ', refused)} exited {code}: {err}");
        Assert.Equal(string.Empty, output);
        var lines = err.TrimEnd('\n').Split('\n');
        Assert.Matches($@"^(iommulab \w+: )?{System.Text.RegularExpressions.Regex.Escape(file)}:\s?{location}: (/\S*: )?expected .*, found .*; raise the limit with {@switch} \(\w+\.\w+\)$", lines[0]);
        Assert.All(lines.Skip(1), l => Assert.StartsWith("    ", l));
        Assert.True(lines.Length is 1 or 3, err);
        var (again, _, againErr) = Cli(raised);
        Assert.True(again == 0, $"iommulab {string.Join(' ', raised)} exited {again}: {againErr}");
        return lines[0];
    }

    private static string Nested(int levels)
    {
        var sb = new StringBuilder("/dts-v1/;\n/ ");
        for (var i = 1; i < levels; i++)
        {
            sb.Append("{ n ");
        }

        return sb.Append("{ };").Append(string.Concat(Enumerable.Repeat(" };", levels - 1))).Append('\n').ToString();
    }

    [Fact]
    public void A_dtb_deeper_than_the_kernels_64_levels_is_refused_by_default_and_loads_with_max_depth()
    {
        var dtb = Write("deep.dtb", DtbWriter.Write(DtsParser.Parse(Nested(70), "deep.dts")));
        var line = AssertLimitThenLoads(["topology", dtb], ["topology", dtb, "--max-depth", "70"], dtb, "offset 0x[0-9a-f]+", "--max-depth");
        Assert.Contains("expected at most 64 levels of nodes counting the root, found one at level 65", line);
        Assert.Equal(CliApp.ExitBadInput, Cli("topology", dtb, "--max-depth", "69").Code);
    }

    [Fact]
    public void A_dts_deeper_than_256_levels_is_refused_at_its_line_and_column_and_loads_with_max_depth()
    {
        var dts = Write("deep.dts", Nested(300));
        var line = AssertLimitThenLoads(["dump", dts], ["dump", dts, "--max-depth", "300"], dts, @"2:\d+", "--max-depth");
        Assert.Contains("found node 'n' at level 257", line);
    }

    [Fact]
    public void Node_count_limit_applies_to_dtb_dts_and_iort_alike()
    {
        var dts = Write("ten.dts", "/dts-v1/;\n/ { " + string.Concat(Enumerable.Range(0, 9).Select(i => $"n{i} {{ }}; ")) + "};\n");
        var dtb = Write("ten.dtb", DtbWriter.Write(DtsParser.ParseFile(dts)));
        AssertLimitThenLoads(["topology", dtb, "--max-nodes", "9"], ["topology", dtb, "--max-nodes", "10"], dtb, "offset 0x[0-9a-f]+", "--max-nodes");
        AssertLimitThenLoads(["topology", dts, "--max-nodes", "9"], ["topology", dts, "--max-nodes", "10"], dts, @"2:\d+", "--max-nodes");

        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(0));
        b.Add(2, 1, IortBuilder.RootComplex(0), new Map(0, 0xff, 0, its));
        var iort = Write("two.iort", b.Build());
        var line = AssertLimitThenLoads(["topology", iort, "--max-nodes", "1"], ["topology", iort, "--max-nodes", "2"], iort, "offset 0x24", "--max-nodes");
        Assert.Contains("expected at most 1 nodes, found a node count of 2", line);
    }

    [Fact]
    public void Run_and_check_read_an_iort_under_the_switches_too()
    {
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(0));
        var smmu = b.Add(4, 4, IortBuilder.SmmuV3(0x9050000), new Map(0, 0xffff, 0, its));
        b.Add(2, 1, IortBuilder.RootComplex(0), new Map(0, 0xffff, 0, smmu));
        var iort = Write("smmu.iort", b.Build());
        foreach (var command in new[] { new[] { "run", iort }, ["check", iort, "--profile", "K616", "--budget", "10"] })
        {
            var (code, _, err) = Cli([.. command, "--max-nodes", "2"]);
            Assert.Equal(CliApp.ExitBadInput, code);
            Assert.StartsWith($"iommulab {command[0]}: {iort}: offset 0x24: expected at most 2 nodes, found a node count of 3; raise the limit with --max-nodes", err);
            var (raised, _, raisedErr) = Cli([.. command, "--max-nodes", "3"]);
            Assert.True(raised is 0 or 1, $"iommulab {string.Join(' ', command)} --max-nodes 3 exited {raised}: {raisedErr}");
        }
    }

    [Fact]
    public void Property_size_limit_names_the_node_and_the_size()
    {
        var dts = Write("prop.dts", "/dts-v1/;\n/ { n { v = [" + string.Concat(Enumerable.Repeat("00 ", 100)) + "]; }; };\n");
        var dtb = Write("prop.dtb", DtbWriter.Write(DtsParser.ParseFile(dts)));
        var line = AssertLimitThenLoads(["dump", dtb, "--max-property-size", "99"], ["dump", dtb, "--max-property-size", "100"], dtb, "offset 0x[0-9a-f]+", "--max-property-size");
        Assert.Contains("/n: expected a property value of at most 99 bytes, found 100", line);
        AssertLimitThenLoads(["dump", dts, "--max-property-size", "99"], ["dump", dts, "--max-property-size", "100"], dts, @"2:\d+", "--max-property-size");
    }

    [Fact]
    public void Mapping_limit_counts_iommu_map_entries_over_the_tree_and_names_the_node_that_passes_it()
    {
        var dts = Write("maps.dts", """
            /dts-v1/;
            / {
                #address-cells = <1>; #size-cells = <1>;
                smmu: iommu@1000 { compatible = "arm,smmu-v3"; reg = <0x1000 0x1000>; #iommu-cells = <1>; };
                pcie@2000 { reg = <0x2000 0x1000>; iommu-map = <0x0 &smmu 0x0 0x100>, <0x100 &smmu 0x100 0x100>; };
                pcie@3000 { reg = <0x3000 0x1000>; iommu-map = <0x0 &smmu 0x1000 0x100>; };
            };
            """);
        var line = AssertLimitThenLoads(["topology", dts, "--max-mappings", "2"], ["topology", dts, "--max-mappings", "3"], dts, "/pcie@3000", "--max-mappings");
        Assert.Contains("expected at most 2 iommu-map entries in the tree, found this node's 16-byte iommu-map bringing the total to 3", line);
    }

    [Fact]
    public void Mapping_limit_counts_iort_id_mappings_and_viot_endpoints()
    {
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(0));
        b.Add(2, 1, IortBuilder.RootComplex(0), new Map(0, 0xff, 0, its), new Map(0x100, 0xff, 0x100, its));
        var iort = Write("maps.iort", b.Build());
        var line = AssertLimitThenLoads(["topology", iort, "--max-mappings", "1"], ["topology", iort, "--max-mappings", "2"], iort, "offset 0x[0-9a-f]+", "--max-mappings");
        Assert.Contains("expected at most 1 ID mappings in the table, found the root complex node at 0x", line);

        var v = new ViotBuilder();
        var iommu = v.VirtioPci(0, 8);
        v.PciRange(0, 0, 0, 0, 0x7f, iommu);
        v.PciRange(0x80, 0, 0, 0x80, 0xff, iommu);
        var viot = Write("two.viot", v.Build());
        line = AssertLimitThenLoads(["topology", viot, "--max-mappings", "1"], ["topology", viot, "--max-mappings", "2"], viot, "offset 0x[0-9a-f]+", "--max-mappings");
        Assert.Contains("expected at most 1 endpoint (PCI range and MMIO endpoint) nodes, found endpoint node number 2", line);
    }

    [Fact]
    public void Include_nesting_past_32_files_is_refused_at_the_include_and_loads_with_max_include_depth()
    {
        const int Files = 33;
        for (var i = 1; i <= Files; i++)
        {
            Write($"inc{i}.dtsi", i < Files ? $"/include/ \"inc{i + 1}.dtsi\"\n" : "/ { deepest; };\n");
        }

        var dts = Write("includes.dts", "/dts-v1/;\n/ { };\n/include/ \"inc1.dtsi\"\n");
        var line = AssertLimitThenLoads(["dump", dts], ["dump", dts, "--max-include-depth", "33"], Path.Combine(_dir, "inc32.dtsi"), "1:1", "--max-include-depth");
        Assert.Contains("expected /include/ nested at most 32 files deep, found \"inc33.dtsi\" at depth 33", line);
    }

    [Fact]
    public void Expression_nesting_past_256_levels_is_refused_and_loads_with_max_expression_depth()
    {
        var dts = Write("expr.dts", "/dts-v1/;\n/ { v = <" + new string('(', 300) + "1" + new string(')', 300) + ">; };\n");
        var line = AssertLimitThenLoads(["topology", dts, "--format", "json"], ["topology", dts, "--format", "json", "--max-expression-depth", "300"], dts, @"2:\d+", "--max-expression-depth");
        Assert.Contains("expected an expression nested at most 256 levels deep", line);
    }

    [Fact]
    public void Every_command_that_reads_firmware_takes_the_limit_switches()
    {
        var dtb = Path.Combine(_dir, "example.dtb");
        Assert.Equal(0, Cli("dump", "example:t8103-asahi", "-O", "dtb", "-o", dtb).Code);
        var nodes = DtbReader.ReadFile(dtb).AllNodes().Count();
        var below = (nodes - 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var at = nodes.ToString(System.Globalization.CultureInfo.InvariantCulture);
        string[][] commands =
        [
            ["topology", dtb],
            ["dump", dtb],
            ["run", dtb, "--schedule", "WORK"],
            ["check", dtb, "--profile", "K616", "--budget", "20", "--format", "json"],
        ];
        foreach (var command in commands)
        {
            AssertLimitThenLoads([.. command, "--max-nodes", below], [.. command, "--max-nodes", at], dtb, "offset 0x[0-9a-f]+", "--max-nodes");
        }

        // lint reports an unreadable file as a finding (exit 1) rather than failing the run.
        var (code, output, _) = Cli("lint", dtb, "--max-nodes", below);
        Assert.Equal(1, code);
        Assert.Contains($"expected at most {below} nodes, found node number {at}", output);
        Assert.Contains("raise the limit with --max-nodes", output);
        Assert.DoesNotContain("firmware-malformed", Cli("lint", dtb, "--max-nodes", at).Out);
    }

    [Fact]
    public void Every_firmware_command_lists_the_six_switches_with_their_defaults_in_its_help()
    {
        foreach (var command in new[] { "topology", "dump", "run", "check", "lint", "replay" })
        {
            var (code, help, _) = Cli(command, "--help");
            Assert.Equal(0, code);
            foreach (var limit in Enum.GetValues<FirmwareLimit>())
            {
                Assert.Matches($@"{FirmwareLimits.Switch(limit)} <N>\s+.*\(default: {System.Text.RegularExpressions.Regex.Escape(FirmwareLimits.DefaultFor(limit))}\)", help);
            }
        }

        Assert.DoesNotContain("--max-nodes", Cli("profiles", "--help").Out);
    }

    [Fact]
    public void A_limit_switch_must_be_a_positive_number()
    {
        var (code, _, err) = Cli("topology", "example:t8103-asahi", "--max-depth", "0");
        Assert.Equal(CliApp.ExitBadInput, code);
        Assert.StartsWith("--max-depth: expected a positive number, found 0\n", err);
    }

    [Fact]
    public void Unset_switches_keep_the_documented_defaults()
    {
        var limits = FirmwareLimits.Default;
        Assert.Equal((64, 1 << 20, 64 << 20), (limits.Dtb.MaxDepth, limits.Dtb.MaxNodes, limits.Dtb.MaxPropertyLength));
        Assert.Equal((256, 1 << 20, 64 << 20, 32, 256), (limits.Dts.MaxNodeDepth, limits.Dts.MaxNodes, limits.Dts.MaxPropertyLength, limits.Dts.MaxIncludeDepth, limits.Dts.MaxExpressionDepth));
        Assert.Equal((1 << 16, 1 << 20), (limits.Acpi.MaxNodes, limits.Acpi.MaxIdMappings));
        Assert.Equal(1 << 20, limits.IommuMapEntries);
        var raised = new FirmwareLimits { MaxDepth = 5, MaxNodes = 6, MaxPropertySize = 7, MaxMappings = 8, MaxIncludeDepth = 9, MaxExpressionDepth = 10 };
        Assert.Equal((5, 6, 7), (raised.Dtb.MaxDepth, raised.Dtb.MaxNodes, raised.Dtb.MaxPropertyLength));
        Assert.Equal((5, 6, 7, 9, 10), (raised.Dts.MaxNodeDepth, raised.Dts.MaxNodes, raised.Dts.MaxPropertyLength, raised.Dts.MaxIncludeDepth, raised.Dts.MaxExpressionDepth));
        Assert.Equal((6, 8, 8), (raised.Acpi.MaxNodes, raised.Acpi.MaxIdMappings, raised.IommuMapEntries));
    }

    [Fact]
    public void A_limit_error_says_which_limit_it_is()
    {
        var e = Assert.Throws<DtbFormatException>(() => DeviceTreeLoader.Load(
            DtbWriter.Write(DtsParser.Parse(Nested(3), "x.dts")), "x.dtb", new FirmwareLimits { MaxDepth = 2 }));
        Assert.Equal(FirmwareLimit.Depth, e.Limit);
        var malformed = Assert.Throws<DtbFormatException>(() => DtbReader.Read(new byte[8], "zero.dtb"));
        Assert.Null(malformed.Limit);
        var acpi = Assert.Throws<AcpiFormatException>(() => AcpiTable.Load("IORT"u8.ToArray(), "short.iort"));
        Assert.Null(acpi.Limit);
    }
}
