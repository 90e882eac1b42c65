using IommuLab.Firmware.Lint;
using IommuLab.Firmware.Topology;
using IommuLab.Model.Kernel;
using IommuLab.Model.Lint;
using IommuLab.Tests.Acpi;
using static IommuLab.Tests.Lint.LintSupport;

namespace IommuLab.Tests.Lint;

/// <summary>Each rule on a small hand-written fixture, with the exact finding asserted.</summary>
public sealed class LintRuleTests
{
    private static IReadOnlyList<LintFinding> Lint(string fixture, params Profile[] profiles) =>
        Linter.LintFile(Fixture(fixture), profiles.Length == 0 ? null : new LintOptions { Profiles = profiles }).Findings;

    private static string[] Lines(IEnumerable<LintFinding> findings) => [.. findings.Select(Line)];

    [Fact]
    public void Enabled_consumer_of_a_disabled_iommu_is_a_warning_naming_the_iommu_and_a_disabled_consumer_is_not()
    {
        var findings = Lint("disabled-provider.dts");
        var f = Assert.Single(findings);
        Assert.Equal(
            "iommus-disabled-provider warning /dma@3000: enabled consumer references disabled provider /iommu@2000 at iommus[0]: "
            + "of_iommu_xlate() returns -ENODEV there and the entries after it are not translated", Line(f));
        Assert.Equal("enable /iommu@2000 (status = \"okay\"), drop it from iommus, or disable the consumer", f.FixHint);
        Assert.Equal(Fixture("disabled-provider.dts"), f.File);
    }

    [Fact]
    public void Cells_written_for_the_wrong_iommu_cells_are_a_reframing_error()
    {
        var f = Assert.Single(Lint("cells-mismatch.dts").Of(TopologyRules.IommusCellsMismatch));
        Assert.Equal(
            "iommus-cells-mismatch error /dma@3000: entries written with 2 arg cell(s) but /iommu@1000 has #iommu-cells = 1: the kernel re-frames the list; "
            + "the walk fails at cell 2: value 0x2 is read as a phandle and resolves to /dma@3000, which has no #iommu-cells, -EINVAL", Line(f));
        Assert.Equal("write 1 arg cell(s) after each phandle, as /iommu@1000 declares (#iommu-cells = <1>)", f.FixHint);
    }

    [Fact]
    public void Entries_after_an_empty_entry_are_reported_as_ignored()
    {
        Assert.Equal(
            [
                "iommus-empty-entry warning /dma@3000: iommus[1] (cell 2) has phandle 0, an empty entry: parsing index 1 returns -ENOENT and the list ends there",
                "iommus-entries-ignored warning /dma@3000: 2 cell(s) after iommus[1] are ignored: the kernel only sees 1 reference(s), including [2] /iommu@1000 <2>",
            ],
            Lines(Lint("entries-ignored.dts")));
    }

    [Fact]
    public void A_reference_to_a_node_without_iommu_cells_is_an_error_with_a_hint_naming_it()
    {
        var f = Assert.Single(Lint("not-provider.dts").Of(TopologyRules.IommusTargetNotProvider));
        Assert.Equal(
            "iommus-target-not-provider error /dma@3000: iommus[0] (cell 0) -> /clock-controller@1000, which has no #iommu-cells; -EINVAL ends the list "
            + "(\"/dma@3000: could not get #iommu-cells for /clock-controller@1000\")", Line(f));
        Assert.Equal("reference the IOMMU node instead of /clock-controller@1000, or add #iommu-cells to it", f.FixHint);
    }

    [Fact]
    public void Three_darts_exceed_max_darts_per_device_under_the_profiles_before_v6_15_only()
    {
        var all = Assert.Single(Lint("dart-isp.dts").Of(DriverLintRules.DartTooMany));
        Assert.Equal(
            "dart-too-many warning /soc/isp@22a000000: 3 distinct DARTs (/soc/iommu@22c0e8000, /soc/iommu@22c0f4000, /soc/iommu@22c0fc000) exceed "
            + "MAX_DARTS_PER_DEVICE under K66, K67, K68, K611, JGG2, JGG2+F1, JGG2+F1+HF2, JGG2+F1+AD (2): of_xlate finds no free slot (-EINVAL) and the "
            + "device gets no IOMMU; within the limit under K615, K616 (3)", Line(all));
        Assert.Equal(ProblemSeverity.Error, Assert.Single(Lint("dart-isp.dts", Profiles.K611).Of(DriverLintRules.DartTooMany)).Severity);
        Assert.Empty(Lint("dart-isp.dts", Profiles.K616).Of(DriverLintRules.DartTooMany));
    }

    [Fact]
    public void A_bypass_mismatch_is_rejected_before_v6_15_and_only_noted_after()
    {
        var all = Assert.Single(Lint("dart-isp.dts").Of(DriverLintRules.DartGangBypass));
        Assert.Equal(
            "dart-gang-bypass-mismatch warning /soc/isp@22a000000: DARTs of one device differ in bypass support (/soc/iommu@22c0e8000: bypass (t8103 variant), "
            + "/soc/iommu@22c0f4000: no bypass (iommulab,bypass), /soc/iommu@22c0fc000: bypass (t8103 variant)): of_xlate rejects the mismatch with -EINVAL "
            + "under K66, K67, K68, K611, JGG2, JGG2+F1, JGG2+F1+HF2, JGG2+F1+AD; K615, K616 accept it and the device loses bypass (identity) domains", Line(all));
        Assert.Equal(ProblemSeverity.Error, Assert.Single(Lint("dart-isp.dts", Profiles.K68).Of(DriverLintRules.DartGangBypass)).Severity);
        Assert.Equal(ProblemSeverity.Info, Assert.Single(Lint("dart-isp.dts", Profiles.K616).Of(DriverLintRules.DartGangBypass)).Severity);
    }

    [Fact]
    public void A_multi_instance_consumer_is_reported_as_info()
    {
        var f = Assert.Single(Lint("dart-isp.dts").Of(FirmwareLintRules.MultiInstance));
        Assert.Equal(
            "iommus-multi-instance info /soc/isp@22a000000: references 3 IOMMU instances (/soc/iommu@22c0e8000, /soc/iommu@22c0f4000, /soc/iommu@22c0fc000): "
            + "it is translated only if all 3 register, and some kernels leave it half-configured when they register in the wrong order (spec §5.6)", Line(f));
    }

    [Fact]
    public void A_stream_id_past_the_variants_stream_count_is_an_error()
    {
        var f = Assert.Single(Lint("dart-params.dts").Of(DriverLintRules.DartSidOutOfRange));
        Assert.Equal(
            "dart-sid-out-of-range error /soc/sid@1000000: iommus[0] stream ID 20 is beyond /soc/iommu@100000's 16 streams (t8103 variant): of_xlate stores it "
            + "unchecked and every per-stream loop stops at num_streams, so the stream is never grouped or programmed", Line(f));
        Assert.Equal("use a stream ID below 16 for /soc/iommu@100000, or check its compatible", f.FixHint);
    }

    [Fact]
    public void Darts_of_one_device_with_different_page_sizes_fail_under_every_profile()
    {
        var f = Assert.Single(Lint("dart-params.dts").Of(DriverLintRules.DartGangPageSize));
        Assert.Equal(
            "dart-gang-pgsize-mismatch error /soc/pgsize@2000000: DARTs of one device have different page sizes (/soc/iommu@100000: 16384 (t8103 variant), "
            + "/soc/iommu@200000: 4096 (iommulab,pgsize)): of_xlate fails the first DART that differs from slot 0 with -EINVAL under every profile", Line(f));
    }

    [Fact]
    public void Darts_with_different_ias_fail_only_where_the_profile_checks_ias()
    {
        var f = Assert.Single(Lint("dart-params.dts").Of(DriverLintRules.DartGangIas));
        Assert.Equal(
            "dart-gang-ias-mismatch warning /soc/ias@3000000: DARTs of one device have different ias (/soc/iommu@300000: 36 (t8110 variant), "
            + "/soc/iommu@100000: 32 (t8103 variant)): of_xlate fails with -EINVAL under K616", Line(f));
        Assert.Equal(ProblemSeverity.Error, Assert.Single(Lint("dart-params.dts", Profiles.K616).Of(DriverLintRules.DartGangIas)).Severity);
        Assert.Empty(Lint("dart-params.dts", Profiles.K615).Of(DriverLintRules.DartGangIas));
    }

    [Fact]
    public void A_locked_dart_listed_second_is_a_warning_to_list_it_first()
    {
        var f = Assert.Single(Lint("dart-params.dts").Of(DriverLintRules.DartLockedNotFirst));
        Assert.Equal(
            "dart-locked-not-first warning /soc/display-subsystem@4000000: locked DART /soc/iommu@400000 (iommulab,locked) takes slot 1, after /soc/iommu@100000: "
            + "slot 0 decides the domain's format and, on Asahi kernels, whose bootloader TTBR is read back, so the locked DART must come first; on mainline a "
            + "locked DART fails to probe and the device waits for it, then gets no IOMMU", Line(f));
        Assert.Equal("list /soc/iommu@400000 first in iommus", f.FixHint);
    }

    [Fact]
    public void The_dart_fixture_has_exactly_the_dart_findings_and_the_multi_instance_notes()
    {
        Assert.Equal(
            [
                "dart-sid-out-of-range /soc/sid@1000000",
                "iommus-multi-instance /soc/pgsize@2000000",
                "dart-gang-pgsize-mismatch /soc/pgsize@2000000",
                "iommus-multi-instance /soc/ias@3000000",
                "dart-gang-ias-mismatch /soc/ias@3000000",
                "iommus-multi-instance /soc/display-subsystem@4000000",
                "dart-locked-not-first /soc/display-subsystem@4000000",
            ],
            Lint("dart-params.dts").Select(f => $"{f.RuleId} {f.Location}"));
    }

    [Fact]
    public void A_stream_id_two_devices_use_on_one_smmu_v3_is_an_error_and_a_master_repeating_its_own_is_not()
    {
        Assert.Equal(
            [
                "smmu-duplicate-stream-id error /soc/dma@10020000: iommus[0] puts stream ID 0x10 on /soc/iommu@2b400000, which /soc/dma@10000000 (iommus[0]) "
                + "already uses: arm_smmu_insert_master() finds it in the stream tree (\"stream 16 already in tree\", -EINVAL); the device that probes second is "
                + "refused and gets no IOMMU (during a registration walk, the SMMU's registration fails)",
                "smmu-duplicate-stream-id warning /soc/pcie@40000000: iommu-map entry 1 (IDs 0x300-0x300) puts stream ID 0x120 on /soc/iommu@2b400000, which its "
                + "own iommu-map entry 0 (IDs 0x100-0x1ff) already uses: arm_smmu_insert_master() finds it in the stream tree (\"stream 288 already in tree\", "
                + "-EINVAL); two functions behind the bridge get the same stream ID, and the second to probe is refused unless they are DMA aliases of one device",
            ],
            Lines(Lint("smmu-duplicate.dts")));
    }

    [Fact]
    public void Iommu_map_overlaps_gaps_masks_the_bad_map_form_and_non_providers_are_each_reported()
    {
        Assert.Equal(
            [
                "iommu-map-overlap warning /pcie@1000: entries 0 and 1 both cover IDs 0x80..0xff: the first match wins, so entry 0 takes them",
                "iommu-map-gap warning /pcie@1000: 128 RID(s) in bus-range 0x0-0x2 fall between iommu-map entries: RIDs 0x180-0x1ff (01:10.0-01:1f.7); "
                + "a function there gets no IOMMU (of_map_id() finds no translation)",
                "iommu-map-id-base-outside-mask error /pcie@2000: entry 0 id-base 0x10000 has bits outside iommu-map-mask 0xffff: of_map_id() returns -EFAULT "
                + "for every ID not matched by an earlier entry",
                "iommu-map-legacy-one-cell info /pcie@3000: 1-cell entries target /iommu@200, which has #iommu-cells = 2; v7.2+ prints \"/pcie@3000: iommu-map "
                + "has 1-cell entries targeting 2-cell #iommu-cells, treating as 1-cell output\" once and reads them as earlier kernels do",
                "iommu-map-target-not-provider warning /pcie@4000: entry 0 targets /clock-controller@300, which has no #iommu-cells",
            ],
            Lines(Lint("iommu-map.dts")));
    }

    [Fact]
    public void Iort_problems_become_findings_at_their_offsets()
    {
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(0));
        b.Add(2, 1, IortBuilder.RootComplex(0), new Map(0, 0xffff, 0, its), new Map(0x10000, 0xff, 0, its, RawReference: 0));
        var report = Linter.LintBytes(b.Build(goodChecksum: false), "test.iort");
        Assert.Equal(LintInputKind.Iort, report.Kind);
        Assert.Equal(
            ["acpi-bad-checksum offset 0x9", "iort-null-output-reference offset 0x" + $"{b.OffsetOf(1) + 16 + IortBuilder.RootComplex(0).Length + 20 + 12:x}"],
            report.Findings.Select(f => $"{f.RuleId} {f.Location}"));
        Assert.All(report.Findings, f => Assert.Null(f.Path));
        Assert.Equal("recompute the checksum byte so the table sums to zero", report.Findings[0].FixHint);
    }

    [Fact]
    public void A_malformed_dtb_is_one_error_finding_at_its_offset_and_an_unreadable_path_is_another()
    {
        var dir = Directory.CreateTempSubdirectory("iommulab-lint");
        try
        {
            var bad = Path.Combine(dir.FullName, "bad.dtb");
            File.WriteAllBytes(bad, [0xd0, 0x0d, 0xfe, 0xed, 0, 0, 0, 8]);
            var malformed = Linter.LintFile(bad);
            Assert.Equal(LintInputKind.Unreadable, malformed.Kind);
            var f = Assert.Single(malformed.Findings);
            Assert.Equal(FirmwareLintRules.FirmwareMalformed, f.RuleId);
            Assert.Equal(ProblemSeverity.Error, f.Severity);
            Assert.StartsWith("offset 0x", f.Location, StringComparison.Ordinal);

            // A directory named as a file cannot be read as one.
            var unreadable = Assert.Single(Linter.LintFile(dir.FullName).Findings);
            Assert.Equal(FirmwareLintRules.FileUnreadable, unreadable.RuleId);
            Assert.Equal("file", unreadable.Location);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Malformed_model_properties_skip_the_driver_rules_with_a_warning_instead_of_throwing()
    {
        var dts = "/dts-v1/;\n/ {\n\tsoc {\n\t\tcompatible = \"simple-bus\";\n\t\t#address-cells = <1>;\n\t\t#size-cells = <1>;\n\t\tranges;\n"
            + "\t\td: iommu@1000 { compatible = \"apple,t8103-dart\"; reg = <0x1000 0x100>; #iommu-cells = <1>; iommulab,pgsize = \"4k\"; };\n"
            + "\t\tusb@2000 { compatible = \"vendor,usb\"; reg = <0x2000 0x100>; iommus = <&d 1>; };\n\t};\n};\n";
        var f = Assert.Single(Linter.LintBytes(System.Text.Encoding.UTF8.GetBytes(dts), "knob.dts").Findings);
        Assert.Equal(DriverLintRules.KnobInvalid, f.RuleId);
        Assert.Equal("file", f.Location);
    }

    [Fact]
    public void Every_rule_id_found_has_a_catalog_entry_with_a_fix_hint_and_ids_are_unique()
    {
        Assert.Equal(Linter.Rules.Count, Linter.Rules.Select(r => r.Id).Distinct().Count());
        Assert.All(Linter.Rules, r => Assert.False(string.IsNullOrWhiteSpace(r.FixHint), r.Id));
        var topologyIds = typeof(TopologyRules).GetFields().Select(f => (string)f.GetValue(null)!);
        var acpiIds = typeof(IommuLab.Firmware.Acpi.AcpiRules).GetFields().Select(f => (string)f.GetValue(null)!);
        Assert.All(topologyIds.Concat(acpiIds), id => Assert.NotNull(Linter.Rule(id)));
        foreach (var fixture in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Fixtures", "lint")))
        {
            Assert.All(Linter.LintFile(fixture).Findings, f => Assert.NotNull(Linter.Rule(f.RuleId)));
        }
    }
}
