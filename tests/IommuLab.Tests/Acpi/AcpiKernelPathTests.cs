using IommuLab.Cli.Commands;
using IommuLab.Firmware.Acpi;
using IommuLab.Model.Kernel;
using IommuLab.Tests.Kernel;
using IommuLab.Tests.Support;

namespace IommuLab.Tests.Acpi;

/// <summary>The ACPI configure path (spec §3) end to end: IORT/VIOT → platform → acpi_iommu_configure_id() → probe.</summary>
public sealed class AcpiKernelPathTests
{
    private static readonly string[] AllProfiles = [.. Profiles.All.Select(p => p.Name)];

    public static TheoryData<string> ProfileNames() => [.. AllProfiles];

    private static RunResult Run(AcpiTable table, string profile, string schedule, IReadOnlyList<string>? pci = null, IReadOnlyList<string>? knobs = null, PlatformKnobs? platformKnobs = null)
    {
        var (platform, error) = AcpiPlatformBuilder.Build(table, platformKnobs ?? new PlatformKnobs(), knobs ?? [], pci);
        Assert.True(platform is not null, error);
        var (events, serr) = ScheduleParser.Parse(schedule, platform!);
        Assert.True(events is not null, serr);
        return RunResult.Of(Execution.Run(platform!, KernelRun.Profile(profile), events!));
    }

    private static string Qemu(string name) => Corpus.IortFiles("qemu", name).Single();

    private static string Configured(RunResult r, string device) =>
        string.Join(",", r.Device(device).Configured.Select(s => $"{s.Instance}:{s.Id:x}"));

    [Theory]
    [Trait("Category", "Corpus")]
    [MemberData(nameof(ProfileNames))]
    public void Qemu_smmuv3_dev_rids_reach_the_first_smmu_the_second_or_none_through_run(string profile)
    {
        var request = new RunCommand.RunRequest(Qemu("qemu10.2-IORT.smmuv3-dev.dat"), profile,
            "REG(smmu0) BIND(smmu0) REG(smmu1) BIND(smmu1) PROBE(00:00.0) PROBE(01:1f.7) PROBE(02:00.0) PROBE(10:00.0) PROBE(10:1f.7) PROBE(11:00.0) PROBE(ff:1f.7)",
            [], [], new PlatformKnobs(), new RunOptions())
        {
            Pci = ["00:00.0; 01:1f.7; 02:00.0; 10:00.0; 10:1f.7; 11:00.0; ff:1f.7"],
        };
        var (r, error) = RunCommand.Execute(request, _ => throw new InvalidOperationException("not a device tree"));
        Assert.True(r is not null, error);
        Assert.Equal("IORT/smmuv3@c000000:0", Configured(r!, "0000:00:00.0"));
        Assert.Equal("IORT/smmuv3@c000000:1ff", Configured(r!, "0000:01:1f.7"));
        Assert.Equal("IORT/smmuv3@c020000:1000", Configured(r!, "0000:10:00.0"));
        Assert.Equal("IORT/smmuv3@c020000:10ff", Configured(r!, "0000:10:1f.7"));
        foreach (var d in new[] { "0000:00:00.0", "0000:01:1f.7", "0000:10:00.0", "0000:10:1f.7" })
        {
            Assert.Equal("T/iommu-dma", r!.ClassAndDma(d));
        }

        foreach (var d in new[] { "0000:02:00.0", "0000:11:00.0", "0000:ff:1f.7" })
        {
            Assert.Equal("N/direct", r!.ClassAndDma(d));
            Assert.Empty(r.Device(d).Configured);
        }

        Assert.Equal("", r!.Violated());
    }

    [Fact]
    [Trait("Category", "Corpus")]
    public void Without_a_pci_list_one_function_per_root_complex_mapping_is_used_and_said()
    {
        var r = Run(AcpiTable.LoadFile(Qemu("qemu10.2-IORT.smmuv3-dev.dat")), "K616", "REG(smmu0) BIND(smmu0) REG(smmu1) BIND(smmu1) PROBE(00:00.0) PROBE(10:00.0)");
        Assert.Contains(r.Execution.Kernel.Platform.Notes, n => n.Contains("one PCI function per root-complex ID mapping", StringComparison.Ordinal));
        Assert.Equal("T/iommu-dma", r.ClassAndDma("0000:00:00.0"));
        Assert.Equal("T/iommu-dma", r.ClassAndDma("0000:10:00.0"));
    }

    [Theory]
    [Trait("Category", "Corpus")]
    [MemberData(nameof(ProfileNames))]
    public void A_smmuv3_registered_late_defers_the_device_then_takes_it(string profile)
    {
        var r = Run(AcpiTable.LoadFile(Qemu("qemu10.2-IORT.smmuv3-dev.dat")), profile, "PROBE(00:00.0) REG(smmu0) BIND(smmu0)", ["00:00.0"]);
        Assert.Equal("T/iommu-dma", r.ClassAndDma("0000:00:00.0"));
        Assert.True(r.Execution.Kernel.Devices.Single(d => d.Name == "0000:00:00.0").ProbeAttempts >= 2);
    }

    [Theory]
    [Trait("Category", "Corpus")]
    [InlineData("K66", "W")]
    [InlineData("K68", "W")]
    [InlineData("K611", "W")]
    [InlineData("K615", "W")]
    [InlineData("K616", "N")]
    public void An_smmu_that_never_registers_is_waited_for_forever_until_k616_applies_the_timeout(string profile, string cls)
    {
        // IORT deferral is a raw -EPROBE_DEFER until iommu_fwspec_init() calls check_state (spec §3.2).
        var r = Run(AcpiTable.LoadFile(Qemu("qemu10.2-IORT.smmuv3-dev.dat")), profile, "PROBE(00:00.0) TIMEOUT", ["00:00.0"]);
        Assert.Equal(cls, r.Device("0000:00:00.0").Class.ToString());
    }

    [Theory]
    [Trait("Category", "Corpus")]
    [MemberData(nameof(ProfileNames))]
    public void An_smmu_whose_driver_is_not_built_gives_no_iommu_at_once(string profile)
    {
        var r = Run(AcpiTable.LoadFile(Qemu("qemu10.2-IORT.smmuv3-dev.dat")), profile, "PROBE(00:00.0)", ["00:00.0"], ["smmu0.driver=absent", "smmu1.driver=absent"]);
        Assert.Equal("N/direct", r.ClassAndDma("0000:00:00.0"));
    }

    [Theory]
    [Trait("Category", "Corpus")]
    [MemberData(nameof(ProfileNames))]
    public void Qemu_viot_endpoints_reach_the_virtio_iommu_and_it_does_not_translate_itself(string profile)
    {
        var r = Run(AcpiTable.LoadFile(Qemu("qemu10.2-aarch64-VIOT.dat")), profile, "PROBE(00:02.0) REG(viommu0) BIND(viommu0) PROBE(00:03.0) PROBE(01:00.0)", ["00:02.0; 00:03.0; 01:00.0"]);
        Assert.Equal("PCI/0000:00:01.0:10", string.Join(",", r.Device("0000:00:02.0").Configured.Select(s => $"{s.Instance}:{s.Id:x}")));
        Assert.Equal("T/iommu-dma", r.ClassAndDma("0000:00:02.0"));
        Assert.Equal("T/iommu-dma", r.ClassAndDma("0000:00:03.0"));
        Assert.Equal("N", r.Device("0000:01:00.0").Class.ToString());
        Assert.True(r.Logged("viot_dev_iommu_init", "not translating ourself"));
    }

    [Fact]
    [Trait("Category", "Corpus")]
    public void The_malformed_laptop_table_is_a_clean_error_through_run_and_topology()
    {
        var file = Corpus.IortFiles("malformed").Single();
        var (r, error) = RunCommand.Execute(new RunCommand.RunRequest(file, "K616", "", [], [], new PlatformKnobs(), new RunOptions()), _ => throw new InvalidOperationException("not a device tree"));
        Assert.Null(r);
        Assert.Contains("offset 0x4", error, StringComparison.Ordinal);
        var (table, terr) = AcpiInput.Load(file);
        Assert.Null(table);
        Assert.Equal(error, terr);
    }

    public static TheoryData<string, string> LaptopsAndProfiles()
    {
        var data = new TheoryData<string, string>();
        foreach (var f in Corpus.IortFiles("laptops"))
        {
            foreach (var p in AllProfiles)
            {
                data.Add(Path.GetFileName(f), p);
            }
        }

        return data;
    }

    [Theory]
    [Trait("Category", "Corpus")]
    [MemberData(nameof(LaptopsAndProfiles))]
    public void Laptop_gpu0_gets_no_iommu_from_iort_in_any_order(string laptop, string profile)
    {
        var table = (IommuLab.Firmware.Acpi.Iort.IortTable)AcpiTable.LoadFile(Corpus.IortFiles("laptops", laptop).Single());
        var smmus = table.Iommus.Select((_, i) => $"smmu{i}").ToList();
        var regs = string.Join(" ", smmus.Select(s => $"REG({s}) BIND({s})"));
        var regsReversed = string.Join(" ", smmus.AsEnumerable().Reverse().Select(s => $"REG({s}) BIND({s})"));
        foreach (var schedule in new[] { $"PROBE(_SB.GPU0) {regs}", $"{regs} PROBE(_SB.GPU0)", $"{regsReversed} PROBE(_SB.GPU0)", $"REG(smmu0) BIND(smmu0) PROBE(_SB.GPU0) {regs}" })
        {
            var r = Run(table, profile, schedule, ["0=00:00.0"]);
            var gpu = r.Device("_SB.GPU0");
            Assert.Equal("N/direct", r.ClassAndDma("_SB.GPU0"));
            Assert.Empty(gpu.Firmware);
            Assert.Equal("none", gpu.Fwspec);
            Assert.Equal(1, r.Execution.Kernel.Devices.Single(d => d.Name == "_SB.GPU0").ProbeAttempts);
        }
    }

    /// <summary>
    /// A hand-made table with the spec §3.1 [derived] shape, which no corpus table has: a named component with single
    /// mappings to two SMMUs of one driver. The first SMMU registers before the device probes, the second after.
    /// </summary>
    private static AcpiTable TwoSmmuNamedComponent()
    {
        var b = new IortBuilder();
        b.Add(0, 0, IortBuilder.Its(0));
        b.Add(3, 0, IortBuilder.Smmu(0x1500_0000, 3));
        b.Add(3, 0, IortBuilder.Smmu(0x3da0_0000, 3));
        b.Add(1, 0, IortBuilder.NamedComponent(@"\_SB.GPU0"), Map.Single(0x800, 1), Map.Single(0x2, 2));
        return AcpiTable.Load(b.Build(), "two-smmu-nc");
    }

    [Theory]
    [InlineData("K66", "T", "smmu@15000000:800", "I2")]
    [InlineData("K67", "T", "smmu@15000000:800", "I2")]
    [InlineData("K68", "T", "smmu@15000000:800", "I2")]
    [InlineData("K611", "T", "smmu@15000000:800", "I2")]
    [InlineData("K615", "T", "smmu@15000000:800", "I2")]
    [InlineData("K616", "T", "smmu@15000000:800", "I2")]
    [InlineData("JGG2", "N", "", null)]
    [InlineData("JGG2+F1", "T", "smmu@15000000:800,smmu@15000000:2", "I3")]
    [InlineData("JGG2+F1+HF2", "T", "smmu@15000000:800,smmu@15000000:2", "I3")]
    [InlineData("JGG2+F1+AD", "T", "smmu@15000000:800,smmu@15000000:2", "I3")]
    public void A_named_component_deferred_on_its_second_smmu_keeps_a_partial_fwspec(string profile, string cls, string configured, string? violated)
    {
        // K66-K616: the fwspec {smmu0: 0x800} survives the deferral (ACPI frees nothing) and is trusted afterwards.
        // JGG2: bug #1 on ACPI (assign_iommu -EINVAL), the device binds without an IOMMU. F1 defers and re-parses.
        var r = Run(TwoSmmuNamedComponent(), profile, "REG(smmu0) BIND(smmu0) PROBE(_SB.GPU0) REG(smmu1) BIND(smmu1)");
        var gpu = r.Device("_SB.GPU0");
        Assert.Equal(cls, gpu.Class.ToString());
        Assert.Equal(configured, string.Join(",", gpu.Configured.Select(s => $"{s.Instance.Split('/')[1]}:{s.Id:x}")));
        if (violated is not null)
        {
            Assert.Contains(violated, r.Violated().Split(','));
        }
    }

    [Theory]
    [InlineData("K66", "smmu@15000000:800,smmu@15000000:2")]
    [InlineData("K68", "smmu@15000000:800,smmu@15000000:2")]
    [InlineData("K611", "smmu@15000000:800,smmu@15000000:2")]
    [InlineData("K615", "smmu@15000000:800")]
    [InlineData("K616", "smmu@15000000:800")]
    public void From_k615_the_first_smmus_registration_walk_alone_leaves_the_partial_fwspec(string profile, string configured)
    {
        // K615+: iommu_init_device() parses during smmu0's walk, smmu1 defers, the leftover fwspec is probed at once.
        var r = Run(TwoSmmuNamedComponent(), profile, "REG(smmu0) BIND(smmu0) REG(smmu1) BIND(smmu1) PROBE(_SB.GPU0)");
        Assert.Equal(configured, string.Join(",", r.Device("_SB.GPU0").Configured.Select(s => $"{s.Instance.Split('/')[1]}:{s.Id:x}")));
    }

    [Theory]
    [MemberData(nameof(ProfileNames))]
    public void Registering_the_second_smmu_first_gives_both_ids_on_the_first_smmus_fwspec(string profile)
    {
        var r = Run(TwoSmmuNamedComponent(), profile, "REG(smmu1) BIND(smmu1) REG(smmu0) BIND(smmu0) PROBE(_SB.GPU0)");
        var gpu = r.Device("_SB.GPU0");
        Assert.Equal("T", gpu.Class.ToString());
        Assert.Equal("smmu@15000000:800,smmu@15000000:2", string.Join(",", gpu.Configured.Select(s => $"{s.Instance.Split('/')[1]}:{s.Id:x}")));
    }
}
