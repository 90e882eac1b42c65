using System.CommandLine;
using System.Globalization;
using System.Text;
using IommuLab.Cli.Commands;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Model.Exploration;
using IommuLab.Model.Kernel;
using IommuLab.Model.Scan;
using IommuLab.Tests.Kernel;

namespace IommuLab.Tests.Scan;

public sealed class ScanCommandTests : IDisposable
{
    private readonly string dir = Path.Combine(Path.GetTempPath(), "iommulab-scan-" + Guid.NewGuid().ToString("N"));

    public ScanCommandTests()
    {
        Directory.CreateDirectory(Path.Combine(dir, "sub"));
        File.Copy(KernelRun.FixturePath("usb-two-darts.dts"), Path.Combine(dir, "usb-two-darts.dts"));
        File.Copy(KernelRun.FixturePath("single-dart.dts"), Path.Combine(dir, "sub", "single-dart.dts"));
        File.Copy(KernelRun.FixturePath("smmu-v3.dts"), Path.Combine(dir, "sub", "smmu-v3.dts"));
        File.WriteAllText(Path.Combine(dir, "sub", "three-usb.dts"), IndependentUsbControllers(3));
        File.WriteAllBytes(Path.Combine(dir, "broken.dtb"), [0xd0, 0x0d, 0xfe, 0xed, 0, 0, 0, 8]);
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "not firmware");
    }

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var root = new RootCommand { ScanCommand.Create() };
        var o = new StringWriter();
        var e = new StringWriter();
        var code = root.Parse(args).Invoke(new InvocationConfiguration { Output = o, Error = e });
        return (code, o.ToString(), e.ToString());
    }

    /// <summary>N copies of the Asahi dwc3 shape (one USB controller behind two DARTs), sharing nothing.</summary>
    private static string IndependentUsbControllers(int n)
    {
        var b = new StringBuilder("/dts-v1/;\n/ {\n\t#address-cells = <2>;\n\t#size-cells = <2>;\n\tsoc {\n\t\tcompatible = \"simple-bus\";\n\t\t#address-cells = <2>;\n\t\t#size-cells = <2>;\n\t\tranges;\n");
        for (var i = 0; i < n; i++)
        {
            var a = string.Create(CultureInfo.InvariantCulture, $"{i + 3}");
            b.Append(CultureInfo.InvariantCulture, $"\t\td{i}a: iommu@{a}82f00000 {{ compatible = \"apple,t8103-dart\"; reg = <0x{a} 0x82f00000 0x0 0x4000>; #iommu-cells = <1>; }};\n");
            b.Append(CultureInfo.InvariantCulture, $"\t\td{i}b: iommu@{a}82f80000 {{ compatible = \"apple,t8103-dart\"; reg = <0x{a} 0x82f80000 0x0 0x4000>; #iommu-cells = <1>; }};\n");
            b.Append(CultureInfo.InvariantCulture, $"\t\tusb@{a}82280000 {{ compatible = \"apple,t8103-dwc3\", \"snps,dwc3\"; reg = <0x{a} 0x82280000 0x0 0x100000>; iommus = <&d{i}a 0>, <&d{i}b 1>; }};\n");
        }

        return b.Append("\t};\n};\n").ToString();
    }

    [Fact]
    public void Scan_finds_firmware_recursively_lists_the_unreadable_file_and_goes_on()
    {
        var (code, text, _) = Cli("scan", dir, "--progress", "none", "-p", "K68");
        Assert.Equal(1, code);
        Assert.StartsWith("scan: 5 files (4 dts, 1 unreadable) under 1 profile(s): K68", text, StringComparison.Ordinal);
        Assert.Contains("unreadable files (1, skipped):", text, StringComparison.Ordinal);
        Assert.Contains("broken.dtb: ", text, StringComparison.Ordinal);
        Assert.DoesNotContain("notes.txt", text, StringComparison.Ordinal);

        // Four dwc3 controllers behind two DARTs break K68; the pattern names the shape, not the address.
        Assert.Contains("4 device(s) in    2 file(s)  apple,t8103-dwc3 with 2 x apple,t8103-dart: I2,I3,I4,I5,I15,IDMA", text, StringComparison.Ordinal);
        Assert.Contains("consumers of more than one IOMMU instance (4;", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Scan_exits_0_when_every_profile_is_clean_and_2_on_bad_usage()
    {
        Assert.Equal(0, Cli("scan", Path.Combine(dir, "usb-two-darts.dts"), "--progress", "none", "-p", "K611").Code);
        Assert.Equal(2, Cli("scan", Path.Combine(dir, "no-such-dir")).Code);
        Assert.Equal(2, Cli("scan", dir, "--format", "xml").Code);
        Assert.Equal(2, Cli("scan", dir, "--jobs", "0").Code);
        Assert.Equal(2, Cli("scan", dir, "-p", "K99").Code);
        Assert.Equal(2, Cli("scan", dir, "--budget", "-3").Code);
        var empty = Path.Combine(dir, "empty");
        Directory.CreateDirectory(empty);
        var (code, _, err) = Cli("scan", empty);
        Assert.Equal(2, code);
        Assert.Contains("no .dtb, .dtbo, .dts, IORT or VIOT files", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Scan_output_is_byte_identical_whatever_the_number_of_jobs_and_run()
    {
        foreach (var format in new[] { "text", "json", "csv" })
        {
            var one = Cli("scan", dir, "--progress", "none", "--format", format, "--jobs", "1");
            var four = Cli("scan", dir, "--progress", "none", "--format", format, "--jobs", "4");
            var again = Cli("scan", dir, "--progress", "none", "--format", format, "--jobs", "4");
            Assert.Equal(one.Out, four.Out);
            Assert.Equal(four.Out, again.Out);
            Assert.Equal(one.Code, four.Code);
        }
    }

    [Fact]
    public void Plain_progress_goes_to_stderr_and_never_into_the_report()
    {
        var (_, text, err) = Cli("scan", dir, "--progress", "plain", "-p", "K611");
        Assert.Contains("scan: 5/5 files (100%)", err, StringComparison.Ordinal);
        Assert.DoesNotContain("elapsed", text, StringComparison.Ordinal);
        Assert.DoesNotContain(" ms", text, StringComparison.Ordinal);
        var timed = Cli("scan", dir, "--progress", "none", "-p", "K611", "--time").Out;
        Assert.Contains("slowest files", timed, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_and_csv_carry_every_file_profile_and_violation()
    {
        var json = Cli("scan", dir, "--progress", "none", "--format", "json", "-p", "K68", "-p", "K611").Out;
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        var files = doc.RootElement.GetProperty("files");
        Assert.Equal(5, files.GetArrayLength());
        var usb = files.EnumerateArray().Single(f => f.GetProperty("file").GetString()!.EndsWith("usb-two-darts.dts", StringComparison.Ordinal));
        var k68 = usb.GetProperty("profiles")[0];
        Assert.Equal("K68", k68.GetProperty("profile").GetString());
        Assert.Equal("proof", k68.GetProperty("result").GetString());
        Assert.Contains(k68.GetProperty("violations").EnumerateArray(), v => v.GetProperty("invariant").GetString() == "I2" && v.GetProperty("device").GetString() == "/soc/usb@382280000");
        Assert.Empty(usb.GetProperty("profiles")[1].GetProperty("violations").EnumerateArray());
        var broken = files.EnumerateArray().Single(f => f.GetProperty("kind").GetString() == "unreadable");
        Assert.Contains("broken.dtb", broken.GetProperty("file").GetString(), StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(broken.GetProperty("error").GetString()));

        var csv = Cli("scan", dir, "--progress", "none", "--format", "csv", "-p", "K68", "-p", "K611").Out.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("file,kind,profile,result,", csv[0], StringComparison.Ordinal);
        Assert.Equal(1 + (4 * 2) + 1, csv.Length);
        Assert.Contains(csv, l => l.Contains("usb-two-darts.dts,dts,K68,proof,1,1,0,", StringComparison.Ordinal) && l.EndsWith(",1,I2 I3 I4 I5 I15 IDMA,1,", StringComparison.Ordinal));
    }

    [Fact]
    public void Independent_controllers_are_explored_as_separate_clusters_so_the_cost_is_their_sum()
    {
        // Budgets wide enough for proofs: under K68 each cluster also interleaves one foreign DART registration
        // (docs/traces.md "Clusters"), which a lone controller does not have, so the cost per cluster is constant
        // from two controllers on; under K616 there is no stand-in and it is constant from one.
        var options = new ScanOptions { Profiles = [Profiles.K68, Profiles.K616], ExhaustiveBudget = 500 };
        var one = ScanRunner.ScanFile(Path.Combine(dir, "usb-two-darts.dts"), options);
        // Outside the scanned folder: the other tests count its files.
        var twoPath = Path.Combine(Path.GetTempPath(), "iommulab-two-usb-" + Guid.NewGuid().ToString("N") + ".dts");
        File.WriteAllText(twoPath, IndependentUsbControllers(2));
        var two = ScanRunner.ScanFile(twoPath, options);
        File.Delete(twoPath);
        var three = ScanRunner.ScanFile(Path.Combine(dir, "sub", "three-usb.dts"), options);
        Assert.Equal((1, 2, 3), (one.Clusters, two.Clusters, three.Clusters));
        Assert.Equal(1, three.LargestCluster);
        Assert.All([one, two, three], f => Assert.All(f.Profiles, p => Assert.True(p.Proof)));
        Assert.Equal(3 * two.Profiles[0].Executions, 2 * three.Profiles[0].Executions);
        Assert.Equal(3 * one.Profiles[1].Executions, three.Profiles[1].Executions);
        Assert.Equal(3, three.Profiles[0].Violations.Where(v => v.Invariant == "I2").Select(v => v.Device).Distinct().Count());

        // As one system the same tree needs the product of the clusters' orders: ten times their sum is not enough.
        var platform = DtPlatformBuilder.Build(DeviceTreeLoader.LoadFile(Path.Combine(dir, "sub", "three-usb.dts")), new PlatformKnobs(), []).Platform!;
        var sum = (int)three.Profiles[1].Executions;
        var whole = Explorer.Check(platform, Profiles.K616, new ExplorationOptions { Decompose = false, Minimize = false, Budget = 10 * sum });
        Assert.False(whole.Complete);
        Assert.Equal(10 * sum, whole.Executions);
    }

    [Fact]
    public void A_cluster_beyond_the_exhaustive_budget_is_reported_as_a_sample_with_its_random_executions()
    {
        var proof = ScanRunner.ScanFile(Path.Combine(dir, "usb-two-darts.dts"), new ScanOptions { Profiles = [Profiles.K68] });
        var cut = ScanRunner.ScanFile(Path.Combine(dir, "usb-two-darts.dts"), new ScanOptions { Profiles = [Profiles.K68], ExhaustiveBudget = 1, SampleBudget = 7 });
        Assert.True(proof.Profiles[0].Proof);
        Assert.False(cut.Profiles[0].Proof);
        Assert.Equal(1, cut.Profiles[0].Sampled);
        Assert.Equal(1 + 7, cut.Profiles[0].Executions);

        var text = Cli("scan", Path.Combine(dir, "usb-two-darts.dts"), "--progress", "none", "-p", "K68", "--budget", "1", "--sample", "7").Out;
        Assert.Contains("up to 1 executions", text, StringComparison.Ordinal);
        Assert.Contains("plus 7 random executions (seed 0)", text, StringComparison.Ordinal);
        Assert.Contains("files sampled, not proved (1;", text, StringComparison.Ordinal);
    }
}
