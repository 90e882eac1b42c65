using System.CommandLine;
using System.Text.Json;
using IommuLab.Cli.Commands;
using IommuLab.Firmware.DeviceTree;

namespace IommuLab.Tests.Kernel;

public sealed class RunCommandTests
{
    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var root = new RootCommand { RunCommand.Create(path => DeviceTreeLoader.LoadFile(path)), ProfilesCommand.Create() };
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = root.Parse(args).Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static string Usb => KernelRun.FixturePath("usb-two-darts.dts");

    [Fact]
    public void Run_narrates_bug1_and_exits_1_on_violations()
    {
        var (code, output, _) = Cli("run", Usb, "--profile", "K68", "--schedule", "REG(dwc3_0_dart_0) PROBE(usb_drd0) REG(dwc3_0_dart_1)");
        Assert.Equal(1, code);
        Assert.Contains("[2] PROBE(usb_drd0)", output, StringComparison.Ordinal);
        Assert.Contains("iommu configuration for device failed with -EINVAL", output, StringComparison.Ordinal);
        Assert.Contains("usb_drd0 [T] Bound, DMA direct", output, StringComparison.Ordinal);
        Assert.Contains("I2 /soc/usb@382280000", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_exits_0_when_every_invariant_holds()
    {
        var (code, output, _) = Cli("run", Usb, "-p", "K611", "-s", "REG(dwc3_0_dart_0) PROBE(usb_drd0) REG(dwc3_0_dart_1)");
        Assert.Equal(0, code);
        Assert.Contains("invariants: all hold", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_json_has_the_documented_shape()
    {
        var (code, output, _) = Cli("run", Usb, "-p", "K616", "-s", "REG(dwc3_0_dart_0) PROBE(usb_drd0) REG(dwc3_0_dart_1)", "--format", "json", "--set", "ReadyCheck=Always");
        Assert.Equal(1, code);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.Equal(["schema", "input", "profile", "schedule", "steps", "devices", "instances", "leaks", "violations", "platformNotes", "clock", "deferredProbeTimeout", "drivers", "dma"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal(10, root.GetProperty("deferredProbeTimeout").GetProperty("deadline").GetInt32());
        Assert.Equal(1, root.GetProperty("drivers").EnumerateArray().Single(d => d.GetProperty("name").GetString() == "apple-dart").GetProperty("moduleRefs").GetInt32());
        Assert.Equal("K616*", root.GetProperty("profile").GetProperty("name").GetString());
        Assert.Equal("Always", root.GetProperty("profile").GetProperty("switches").GetProperty("ReadyCheck").GetString());
        var dev = root.GetProperty("devices")[0];
        Assert.Equal("T", dev.GetProperty("class").GetString());
        Assert.Equal(2, dev.GetProperty("groupCoverage").GetArrayLength());
        Assert.Equal("I13", root.GetProperty("violations")[0].GetProperty("invariant").GetString());
    }

    [Theory]
    [InlineData("--profile", "K99")]
    [InlineData("--schedule", "REG(usb_drd0)")]
    [InlineData("--schedule", "PROBE(nothing)")]
    [InlineData("--set", "Bogus=1")]
    [InlineData("--knob", "usb_drd0driver")]
    public void Bad_input_exits_2_with_a_message(string option, string value)
    {
        var (code, _, err) = Cli("run", Usb, option, value);
        Assert.Equal(2, code);
        Assert.StartsWith("iommulab run:", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Pci_list_from_a_file_and_the_timeout_knob_reach_the_run()
    {
        var list = Path.Combine(Path.GetTempPath(), $"iommulab-pci-{Guid.NewGuid():N}.txt");
        File.WriteAllText(list, "# behind a PCIe-to-PCI bridge\n00:01.0 root-port -> 01\n01:00.0 pcie-to-pci -> 02\n02:00.0 label nic\n");
        try
        {
            var (code, output, _) = Cli("run", KernelRun.FixturePath("pcie-smmu-bare.dts"), "-p", "K616", "-s", "REG(smmu) PROBE(nic) WAIT(3)", "--pci", $"pcie=@{list}", "--deferred-probe-timeout", "30", "--format", "json");
            Assert.Equal(0, code);
            using var doc = JsonDocument.Parse(output);
            var nic = doc.RootElement.GetProperty("devices").EnumerateArray().Single(d => d.GetProperty("name").GetString() == "nic");
            Assert.Equal(["02:00.0", "02:00.0"], nic.GetProperty("dmaAliases").EnumerateArray().Select(a => a.GetProperty("rid").GetString()));
            Assert.Equal(3, doc.RootElement.GetProperty("clock").GetInt32());
            Assert.Equal(30, doc.RootElement.GetProperty("deferredProbeTimeout").GetProperty("deadline").GetInt32());
        }
        finally
        {
            File.Delete(list);
        }
    }

    [Fact]
    public void A_missing_pci_list_file_exits_2()
    {
        var (code, _, err) = Cli("run", KernelRun.FixturePath("pcie-smmu-bare.dts"), "--pci", "pcie=@/nonexistent/pci.txt");
        Assert.Equal(2, code);
        Assert.StartsWith("iommulab run: --pci:", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_file_exits_2()
    {
        var (code, _, _) = Cli("run", "/nonexistent.dts");
        Assert.Equal(2, code);
    }

    [Fact]
    public void Profiles_lists_every_profile_and_switch()
    {
        var (code, output, _) = Cli("profiles");
        Assert.Equal(0, code);
        Assert.Contains("JGG2+F1+AD  JGG2 plus fix #1", output, StringComparison.Ordinal);
        Assert.Contains("a2e7e59a9426", output, StringComparison.Ordinal);
        Assert.Contains("  ReadyCheck [None|WhenNoDevIommu|Always]", output, StringComparison.Ordinal);
    }
}
