using System.Diagnostics;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.Lint;
using IommuLab.Firmware.Topology;
using IommuLab.Model.Kernel;
using IommuLab.Model.Lint;
using IommuLab.Tests.Support;
using Xunit.Abstractions;

namespace IommuLab.Tests.Lint;

/// <summary>Lint over the shared corpus: the known facts reproduced, nothing throws, and it is fast.</summary>
public sealed class LintCorpusTests(ITestOutputHelper output)
{
    private static IReadOnlyList<LintReport> LintAll(IReadOnlyList<string> files) =>
        Linter.LintMany(files, f => Linter.LintFile(f), Environment.ProcessorCount);

    [Fact]
    [Trait("Category", "Corpus")]
    public void The_100_enabled_consumers_of_disabled_providers_in_the_sid_corpus_are_linted()
    {
        var findings = LintAll(Corpus.SidDtbs).SelectMany(r => r.Findings).Where(f => f.RuleId == TopologyRules.IommusDisabledProvider).ToList();
        Assert.Equal(100, findings.Select(f => (f.File, f.Path)).Distinct().Count());
        Assert.Equal(119, findings.Count);
    }

    [Fact]
    [Trait("Category", "Corpus")]
    public void The_80_apple_two_dart_consumers_and_the_6_exynos5433_multi_sysmmu_consumers_are_reported()
    {
        var apple = LintAll(Corpus.AppleDtbs).SelectMany(r => r.Findings).Where(f => f.RuleId == FirmwareLintRules.MultiInstance).ToList();
        Assert.Equal(80, apple.Count);
        Assert.All(apple, f => Assert.StartsWith("references 2 IOMMU instances", f.Message, StringComparison.Ordinal));
        Assert.All(apple, f => Assert.Matches("/(usb|dma-controller)@", f.Path!));

        var sid = LintAll(Corpus.SidDtbs).SelectMany(r => r.Findings).Where(f => f.RuleId == FirmwareLintRules.MultiInstance).ToList();
        Assert.Equal(6, sid.Count);
        Assert.All(sid, f => Assert.Contains("exynos5433", Path.GetFileName(f.File), StringComparison.Ordinal));
        Assert.Equal(
            ["codec 2", "decon 4"],
            sid.GroupBy(f => f.Path!.Split('/')[^1].Split('@')[0]).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} {g.Count()}"));

        // Mainline Apple trees break none of the DART rules under any profile (two DARTs, same variant, sids in range).
        Assert.DoesNotContain(LintAll(Corpus.AppleDtbs).SelectMany(r => r.Findings), f => f.RuleId.StartsWith("dart-", StringComparison.Ordinal));
    }

    [Fact]
    [Trait("Category", "Corpus")]
    public void Linting_the_whole_corpus_never_throws_and_finishes_fast()
    {
        var iort = LintInputs.Expand([Path.Combine(Corpus.Root, "iort")]);
        var files = Corpus.AllDtbs.Concat(iort).ToList();
        var sw = Stopwatch.StartNew();
        var reports = LintAll(files);
        sw.Stop();
        output.WriteLine($"lint: {files.Count} files ({iort.Count} ACPI tables), {reports.Sum(r => r.Findings.Count)} findings, {sw.Elapsed.TotalSeconds:0.00} s on {Environment.ProcessorCount} cores");
        foreach (var g in reports.SelectMany(r => r.Findings).GroupBy(f => f.RuleId).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"  {g.Key}: {g.Count()}");
        }

        Assert.Equal(1749 + 37, files.Count);
        Assert.Equal(37, reports.Count(r => r.Kind is LintInputKind.Iort or LintInputKind.Viot || r.File.Contains("malformed", StringComparison.Ordinal)));

        // The one damaged laptop table is the only input lint cannot decode.
        var unreadable = Assert.Single(reports, r => r.Kind == LintInputKind.Unreadable);
        Assert.EndsWith("microsoft-surface-pro-12-in.iort.dat", unreadable.File, StringComparison.Ordinal);
        Assert.Equal("firmware-malformed error offset 0x4", $"{unreadable.Findings[0].RuleId} error {unreadable.Findings[0].Location}");

        // Same input, same findings: a second pass (other thread interleavings) changes nothing.
        var again = LintAll(files);
        Assert.True(reports.Zip(again).All(p => p.First.Findings.SequenceEqual(p.Second.Findings)));

        // dtc alone takes about 7.4 s to decompile the 1649 sid DTBs on 2 cores; lint must stay well under a minute.
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), $"lint took {sw.Elapsed}");
    }

    [Fact]
    [Trait("Category", "Corpus")]
    public void The_driver_rule_gate_admits_every_tree_the_model_gives_an_apple_dart_or_arm_smmu_v3()
    {
        var missed = new List<string>();
        Parallel.ForEach(Corpus.AllDtbs, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, f =>
        {
            var tree = DeviceTreeLoader.LoadFile(f);
            var (platform, _) = DtPlatformBuilder.Build(tree, new PlatformKnobs(), []);
            var needs = platform!.Instances.Any(i => i.Driver is IommuDriverKind.AppleDart or IommuDriverKind.ArmSmmuV3);
            if (needs && !Linter.NeedsDriverFacts(IommuTopology.Decode(tree)))
            {
                lock (missed)
                {
                    missed.Add(f);
                }
            }
        });
        Assert.Empty(missed);
    }
}
