using System.Text.Json;
using IommuLab.Cli;
using IommuLab.Cli.Commands;
using IommuLab.Model.Exploration;
using IommuLab.Model.Kernel;
using IommuLab.Tests.Acpi;
using IommuLab.Tests.Kernel;
using IommuLab.Tests.Support;

namespace IommuLab.Tests.Cli;

/// <summary>`check` and `replay` on IORT/VIOT tables (issue 6): the same explorer, the ACPI configure path underneath.</summary>
public sealed class CheckAcpiTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("iommulab-check-acpi-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = CliApp.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>A named component with single mappings to two SMMUs of one driver (the spec §3.1 shape).</summary>
    private string TwoSmmuNamedComponent()
    {
        var b = new IortBuilder();
        b.Add(0, 0, IortBuilder.Its(0));
        b.Add(3, 0, IortBuilder.Smmu(0x1500_0000, 3));
        b.Add(3, 0, IortBuilder.Smmu(0x3da0_0000, 3));
        b.Add(1, 0, IortBuilder.NamedComponent(@"\_SB.GPU0"), Map.Single(0x800, 1), Map.Single(0x2, 2));
        var path = Path.Combine(_dir, "two-smmu-nc.iort");
        File.WriteAllBytes(path, b.Build());
        return path;
    }

    /// <summary>One SMMUv3 and a root complex whose RIDs land on StreamIDs 0x10000 up, as on the laptops' segment 1.</summary>
    private string HighStreamIds()
    {
        var b = new IortBuilder();
        b.Add(0, 0, IortBuilder.Its(0));
        b.Add(4, 0, IortBuilder.SmmuV3(0x1500_0000));
        b.Add(2, 0, IortBuilder.RootComplex(1), new Map(0, 0xffff, 0x10000, 1));
        var path = Path.Combine(_dir, "high-sids.iort");
        File.WriteAllBytes(path, b.Build());
        return path;
    }

    [Fact]
    public void Check_explores_an_iort_table_and_every_violation_replays_from_its_trace()
    {
        var traces = Path.Combine(_dir, "traces");
        var (code, output, err) = Cli("check", TwoSmmuNamedComponent(), "--traces", traces);
        Assert.Equal(string.Empty, err);
        Assert.Equal(CheckCommand.ExitViolations, code);
        Assert.Contains("exhaustive exploration", output);

        // The partial fwspec left by a deferral on ACPI is order dependent under K68 (spec §3.1 [derived]).
        Assert.Matches(@"K68\s+violation\s+proof", output);
        var files = Directory.GetFiles(traces, "*.json");
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            var (replay, rerr) = ReplayCommand.Execute(file, CliApp.LoadDeviceTree);
            Assert.True(replay is not null, rerr);
            Assert.True(replay!.Reproduced, $"{Path.GetFileName(file)} did not reproduce");
        }
    }

    [Fact]
    public void Replay_reads_the_traces_iort_under_the_limit_switches()
    {
        var traces = Path.Combine(_dir, "limit-traces");
        var (code, _, err) = Cli("check", TwoSmmuNamedComponent(), "--profile", "K68", "--traces", traces);
        Assert.True(code == CheckCommand.ExitViolations, err);
        var file = Directory.GetFiles(traces, "*.json").Order(StringComparer.Ordinal).First();

        // The table has four nodes: a limit below that refuses it with the usual limit error, exit 2.
        var (refused, output, refusedErr) = Cli("replay", file, "--max-nodes", "3");
        Assert.Equal((CliApp.ExitBadInput, string.Empty), (refused, output));
        Assert.Matches(@"^iommulab replay: .*two-smmu-nc\.iort: offset 0x[0-9a-f]+: expected at most 3 nodes, found a node count of 4; raise the limit with --max-nodes", refusedErr);
        Assert.Equal(CheckCommand.ExitViolations, Cli("replay", file, "--max-nodes", "4").Code);
    }

    [Fact]
    public void Check_json_on_an_iort_table_has_the_documented_shape()
    {
        var (code, output, _) = Cli("check", TwoSmmuNamedComponent(), "--profile", "K68", "--format", "json");
        Assert.Equal(CheckCommand.ExitViolations, code);
        using var doc = JsonDocument.Parse(output);
        var k68 = doc.RootElement.GetProperty("profiles").EnumerateArray().Single();
        Assert.Equal("K68", k68.GetProperty("profile").GetString());
        Assert.Equal("violation", k68.GetProperty("verdict").GetString());
        Assert.True(k68.GetProperty("complete").GetBoolean());
        Assert.Contains(k68.GetProperty("violations").EnumerateArray(), v => v.GetProperty("device").GetString() == @"\_SB.GPU0");
    }

    [Fact]
    public void Check_records_the_pci_list_in_the_trace_so_replay_needs_no_other_file()
    {
        var list = Path.Combine(_dir, "pci.txt");
        File.WriteAllText(list, "00:00.0; 00:01.0");
        var traces = Path.Combine(_dir, "pci-traces");
        var (code, _, err) = Cli("check", TwoSmmuNamedComponent(), "--profile", "K68", "--pci", "1=@" + list, "--traces", traces);
        Assert.True(code == CheckCommand.ExitViolations, err);
        File.Delete(list);
        var file = Directory.GetFiles(traces, "*.json").First();
        var (trace, terr) = Trace.Parse(File.ReadAllText(file));
        Assert.True(trace is not null, terr);
        Assert.Equal(["1=00:00.0; 00:01.0"], trace!.Context.Pci!);
        var (replay, rerr) = ReplayCommand.Execute(file, CliApp.LoadDeviceTree);
        Assert.True(replay is not null, rerr);
        Assert.True(replay!.Reproduced);
    }

    [Fact]
    public void A_malformed_table_is_a_bad_input_for_check_with_its_offset()
    {
        var path = Path.Combine(_dir, "bad.iort");
        var bytes = new IortBuilder().Build();
        File.WriteAllBytes(path, bytes[..40]);
        var (code, output, err) = Cli("check", path);
        Assert.Equal(CheckCommand.ExitBadInput, code);
        Assert.Equal(string.Empty, output);
        Assert.StartsWith($"iommulab check: {path}: offset 0x", err);
    }

    [Theory]
    [InlineData("K68")]
    [InlineData("K616")]
    public void Smmuv3_stream_ids_above_16_bits_are_programmed_whole(string profile)
    {
        // arm-smmu-v3 fwspec IDs are 32-bit StreamIDs (only arm-smmu packs an SMR mask above bit 16): RID 0 of segment
        // 1 is StreamID 0x10000 and must get its own STE, not STE 0.
        var (code, output, err) = Cli("run", HighStreamIds(), "--profile", profile, "--pci", "1=00:00.0; 00:01.0",
            "--schedule", "REG(smmu0) BIND(smmu0) PROBE(0001:00:00.0) PROBE(0001:00:01.0)");
        Assert.True(code == 0, err + output);
        Assert.Contains("invariants: all hold", output);
        Assert.True(output.Contains("ok   0001:00:00.0: DMA through smmu0 sid 65536 reached the buffer", StringComparison.Ordinal), output);
        Assert.True(output.Contains("ok   0001:00:01.0: DMA through smmu0 sid 65544 reached the buffer", StringComparison.Ordinal), output);
    }

    [Fact]
    public void A_stream_table_smaller_than_the_routed_ids_fails_probe_with_erange()
    {
        // IORT does not carry SMMU_IDR1.SIDSIZE; the num-streams knob says what the hardware really has.
        var (platform, perr) = PlatformInput.Build(HighStreamIds(), CliApp.LoadDeviceTree, new PlatformKnobs(), ["smmu0.num-streams=65536"], ["1=00:00.0"]);
        Assert.True(platform is not null, perr);
        var (events, serr) = ScheduleParser.Parse("REG(smmu0) BIND(smmu0) PROBE(0001:00:00.0)", platform!);
        Assert.True(events is not null, serr);
        var r = RunResult.Of(Execution.Run(platform!, KernelRun.Profile("K616"), events!));
        Assert.Contains(r.Execution.Kernel.Events, l => l.Function == "arm_smmu_init_sid_strtab" && l.Message.Contains("-ERANGE", StringComparison.Ordinal));
        Assert.Null(r.Device("0001:00:00.0").Group);
    }

    [Fact]
    [Trait("Category", "Corpus")]
    public void Check_proves_qemus_two_smmuv3_iort_clean_under_every_profile()
    {
        var path = Corpus.IortFiles("qemu", "qemu10.2-IORT.smmuv3-dev.dat").Single();
        var (code, output, err) = Cli("check", path, "--format", "json");
        Assert.True(code == CheckCommand.ExitOk, err + output);
        using var doc = JsonDocument.Parse(output);
        var profiles = doc.RootElement.GetProperty("profiles").EnumerateArray().ToList();
        Assert.Equal(Profiles.All.Count, profiles.Count);
        Assert.All(profiles, p =>
        {
            Assert.Equal("ok", p.GetProperty("verdict").GetString());
            Assert.True(p.GetProperty("complete").GetBoolean());
        });
    }
}
