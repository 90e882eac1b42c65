using System.Text;
using IommuLab.Cli.Commands;
using IommuLab.Cli.Rendering;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Model.Exploration;
using IommuLab.Model.Kernel;
using IommuLab.Model.Scan;
using IommuLab.Tests.Kernel;

namespace IommuLab.Tests.Scan;

/// <summary>
/// The two scan speed-ups change nothing a scan reports: exploring a cluster on its restricted platform
/// (<see cref="ClusterPlatform"/>) and reusing the result of an identical cluster (<see cref="ScanCache"/>).
/// </summary>
public sealed class ScanCacheTests : IDisposable
{
    private readonly string dir = Path.Combine(Path.GetTempPath(), "iommulab-scancache-" + Guid.NewGuid().ToString("N"));

    public ScanCacheTests()
    {
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(Path.GetDirectoryName(KernelRun.FixturePath("single-dart.dts"))!, "*.dts"))
        {
            File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        }

        // The same board twice under other names (the cache must hit), and a tree with devices the clusters never see.
        File.Copy(KernelRun.FixturePath("usb-two-darts.dts"), Path.Combine(dir, "usb-two-darts-copy.dts"));
        File.Copy(KernelRun.FixturePath("pcie-iommu-map.dts"), Path.Combine(dir, "pcie-iommu-map-copy.dts"));
        File.WriteAllText(Path.Combine(dir, "crowded.dts"), Crowded);
    }

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>
    /// Two independent DART clusters among unrelated devices; one unrelated device shares its node name with
    /// cluster A's consumer, and a third DART is itself a consumer of DART A.
    /// </summary>
    private const string Crowded = """
        /dts-v1/;
        / {
            #address-cells = <2>;
            #size-cells = <2>;
            serial@100000 { compatible = "arm,pl011"; reg = <0x0 0x100000 0x0 0x1000>; };
            soc {
                compatible = "simple-bus";
                #address-cells = <2>;
                #size-cells = <2>;
                ranges;
                timer@200000 { compatible = "arm,sp804"; reg = <0x0 0x200000 0x0 0x1000>; };
                dart_a: iommu@382f00000 { compatible = "apple,t8103-dart"; reg = <0x3 0x82f00000 0x0 0x4000>; #iommu-cells = <1>; };
                dart_b: iommu@482f00000 { compatible = "apple,t8103-dart"; reg = <0x4 0x82f00000 0x0 0x4000>; #iommu-cells = <1>; };
                dart_c: iommu@582f00000 { compatible = "apple,t8103-dart"; reg = <0x5 0x82f00000 0x0 0x4000>; #iommu-cells = <1>; iommus = <&dart_a 7>; };
                usb@382280000 { compatible = "apple,t8103-dwc3"; reg = <0x3 0x82280000 0x0 0x100000>; iommus = <&dart_a 1>; };
                usb@482280000 { compatible = "apple,t8103-dwc3"; reg = <0x4 0x82280000 0x0 0x100000>; iommus = <&dart_b 1>; };
                gpio@300000 { compatible = "apple,pinctrl"; reg = <0x0 0x300000 0x0 0x1000>; };
            };
            other {
                compatible = "simple-bus";
                #address-cells = <2>;
                #size-cells = <2>;
                ranges;
                usb@382280000 { compatible = "generic-ehci"; reg = <0x3 0x82280000 0x0 0x1000>; };
            };
        };
        """;

    private string Render(IReadOnlyList<string> files, ScanOptions options)
    {
        var report = ScanCommand.Execute(files, options, ScanCommand.ProgressKind.None, TextWriter.Null);
        var b = new StringBuilder();
        using (var w = new StringWriter(b))
        {
            ScanText.Write(w, report, showTime: false, top: 10);
            ScanJson.Write(w, report);
            ScanCsv.Write(w, report);
        }

        return b.ToString().Replace(dir, "DIR", StringComparison.Ordinal);
    }

    [Fact]
    public void Fixtures_scan_to_the_same_bytes_on_restricted_platforms_with_or_without_the_cache_and_with_any_number_of_jobs()
    {
        var files = Directory.GetFiles(dir).Order(StringComparer.Ordinal).ToList();
        var options = new ScanOptions { Jobs = 1 };
        var reference = Render(files, options with { BootWholePlatform = true, Memoize = false });
        Assert.Equal(reference, Render(files, options));
        Assert.Equal(reference, Render(files, options with { Memoize = false }));
        Assert.Equal(reference, Render(files, options with { Jobs = 4 }));
        Assert.Contains("files with violations", reference, StringComparison.Ordinal);
    }

    [Fact]
    public void A_board_scanned_again_under_another_name_reuses_every_cluster_result()
    {
        var cache = new ScanCache();
        var options = new ScanOptions { Profiles = [Profiles.K68, Profiles.K616] };
        var first = ScanRunner.ScanFile(Path.Combine(dir, "usb-two-darts.dts"), options, cache);
        Assert.Equal(0, cache.Hits);
        var misses = cache.Misses;
        var again = ScanRunner.ScanFile(Path.Combine(dir, "usb-two-darts-copy.dts"), options, cache);
        Assert.Equal(misses, cache.Hits);
        Assert.Equal(misses, cache.Misses);
        Assert.Equal(first.Profiles.Select(p => (p.Profile, p.Proved, p.Sampled, p.Executions, string.Join("|", p.Violations))),
            again.Profiles.Select(p => (p.Profile, p.Proved, p.Sampled, p.Executions, string.Join("|", p.Violations))));
        Assert.Contains(first.Profiles, p => p.Violations.Count > 0);
    }

    [Fact]
    public void A_profile_agreeing_on_every_switch_an_exploration_read_reuses_it_and_one_that_differs_explores_again()
    {
        // smmu-v3: no deferral, no second IOMMU, so Hector's fix #1 (AssignIommuDefers) is never consulted.
        var jgg = new[] { Profiles.Find("JGG2")!, Profiles.Find("JGG2+F1")! };
        var cache = new ScanCache();
        var plain = ScanRunner.ScanFile(KernelRun.FixturePath("smmu-v3.dts"), new ScanOptions { Profiles = jgg }, cache);
        Assert.True(cache.ProfileHits > 0);
        Assert.Equal(cache.Misses - cache.ProfileHits, plain.Profiles[0].Proved + plain.Profiles[0].Sampled);

        // usb-two-darts (spec S1): the fix is read on the late-second-DART path and changes the verdicts there, so
        // JGG2+F1 must be explored again, not answered from JGG2.
        cache = new ScanCache();
        var s1 = ScanRunner.ScanFile(KernelRun.FixturePath("usb-two-darts.dts"), new ScanOptions { Profiles = jgg }, cache);
        Assert.Equal(0, cache.ProfileHits);
        Assert.NotEqual(string.Join("|", s1.Profiles[0].Violations), string.Join("|", s1.Profiles[1].Violations));
        var uncached = ScanRunner.ScanFile(KernelRun.FixturePath("usb-two-darts.dts"), new ScanOptions { Profiles = jgg, Memoize = false });
        Assert.Equal(uncached.Profiles.Select(p => string.Join("|", p.Violations)), s1.Profiles.Select(p => string.Join("|", p.Violations)));
    }

    [Fact]
    public void The_probe_lock_switch_counts_as_read_only_where_steps_interleave_so_a_coarse_scan_explores_K66_and_K67_once()
    {
        var probe = new SwitchReads();
        _ = Profiles.K67.Switches.Tracking(probe).ConfigureTakesProbeLock;
        var lockBit = probe.Mask;

        var path = KernelRun.FixturePath("usb-two-darts.dts");
        var tree = DeviceTreeLoader.Load(File.ReadAllBytes(path), path, FirmwareLimitsDefault);
        var platform = DtPlatformBuilder.Build(tree, new PlatformKnobs(), []).Platform!;
        var cluster = Clusters.Of(platform).First();
        ulong ReadsUnder(Granularity g)
        {
            var reads = new SwitchReads();
            var tracked = Profiles.K67 with { Switches = Profiles.K67.Switches.Tracking(reads) };
            ScanRunner.Verdicts(new KernelSystem(platform, tracked, g, cluster), new ScanOptions { ExhaustiveBudget = 20, SampleBudget = 0 });
            return reads.Mask;
        }

        Assert.Equal(0UL, ReadsUnder(Granularity.Coarse) & lockBit);
        Assert.Equal(lockBit, ReadsUnder(Granularity.Fine) & lockBit);

        var cache = new ScanCache();
        var scan = ScanRunner.ScanFile(path, new ScanOptions { Profiles = [Profiles.K66, Profiles.K67] }, cache);
        Assert.Equal(scan.Clusters, cache.ProfileHits);
        Assert.Equal(string.Join("|", scan.Profiles[0].Violations), string.Join("|", scan.Profiles[1].Violations));
    }

    [Fact]
    public void A_quiet_log_drops_only_the_text_of_lines_below_warning_and_changes_no_verdict()
    {
        var path = KernelRun.FixturePath("usb-two-darts.dts");
        var tree = DeviceTreeLoader.Load(File.ReadAllBytes(path), path, FirmwareLimitsDefault);
        var platform = DtPlatformBuilder.Build(tree, new PlatformKnobs(), []).Platform!;
        var cluster = Clusters.Of(platform).First();
        var loud = new KernelSystem(platform, Profiles.K68, Granularity.Coarse, cluster);
        var quiet = new KernelSystem(platform, Profiles.K68, Granularity.Coarse, cluster) { QuietLog = true };
        var options = new ScanOptions();
        var a = ScanRunner.Verdicts(loud, options);
        var b = ScanRunner.Verdicts(quiet, options);
        Assert.Equal(a.Executions, b.Executions);
        Assert.Equal(a.Violations.ToArray(), b.Violations.ToArray());
        Assert.NotEmpty(a.Violations);

        List<KernelEvent> Events(KernelSystem system)
        {
            var run = (KernelSystemRun)system.Start();
            for (var p = 0; p < run.Processes.Count; p++)
            {
                while (run.IsEnabled(p))
                {
                    run.Step(p);
                }
            }

            run.Finish();
            return [.. run.Kernel.Events];
        }

        var full = Events(loud);
        var terse = Events(quiet);
        Assert.Equal(full.Select(e => (e.Level, e.Device, e.Function)), terse.Select(e => (e.Level, e.Device, e.Function)));
        Assert.Contains(full, e => e.Level == EventLevel.Trace && e.Message.Length > 0);
        // Interpolated lines below warnings are not formatted; constant texts cost nothing and stay.
        Assert.All(full.Zip(terse), x => Assert.True(x.Second.Message == x.First.Message || (x.Second.Message.Length == 0 && x.First.Level < EventLevel.Warn)));
        Assert.Contains(terse, e => e.Message.Length == 0);
        Assert.Equal(full.Where(e => e.Level >= EventLevel.Warn).Select(e => e.Message), terse.Where(e => e.Level >= EventLevel.Warn).Select(e => e.Message));
    }

    [Fact]
    public void Tracked_switches_record_what_the_model_reads_and_compare_by_value()
    {
        var reads = new SwitchReads();
        var tracked = Profiles.K616.Switches.Tracking(reads);
        Assert.Equal(0UL, reads.Mask);
        Assert.Equal(Profiles.K616.Switches, tracked);
        Assert.Equal(Profiles.K616.Switches.GetHashCode(), tracked.GetHashCode());
        _ = tracked.ReadyCheck;
        var one = reads.Mask;
        Assert.Equal(1, System.Numerics.BitOperations.PopCount(one));

        // A copy made from the tracked switches records into the same tracker.
        var copy = tracked with { DartMaxDarts = 2 };
        _ = copy.AcpiReplay;
        Assert.Equal(2, System.Numerics.BitOperations.PopCount(reads.Mask));

        // K615 differs from K616 in ReadyCheck: they agree on everything else, not on what was read.
        Assert.False(Profiles.K615.Switches.AgreesWith(Profiles.K616.Switches, one));
        Assert.True(Profiles.K615.Switches.AgreesWith(Profiles.K616.Switches, reads.Mask & ~one));
        Assert.NotEqual(Profiles.K615.Switches, Profiles.K616.Switches);
    }

    [Fact]
    public void A_full_cache_stores_nothing_more_and_the_scan_gives_the_same_result()
    {
        var tiny = new ScanCache(maxBytes: 0);
        var options = new ScanOptions { Profiles = [Profiles.K68] };
        var path = Path.Combine(dir, "usb-two-darts.dts");
        var a = ScanRunner.ScanFile(path, options, tiny);
        var b = ScanRunner.ScanFile(path, options, tiny);
        Assert.Equal(0, tiny.Count);
        Assert.Equal(0, tiny.Bytes);
        Assert.Equal(0, tiny.Hits);
        Assert.Equal(string.Join("|", a.Profiles[0].Violations), string.Join("|", b.Profiles[0].Violations));

        // Nor does it keep what a profile's explorations read for another profile to reuse.
        var jgg = new ScanOptions { Profiles = [Profiles.Find("JGG2")!, Profiles.Find("JGG2+F1")!] };
        var reused = new ScanCache();
        var full = ScanRunner.ScanFile(KernelRun.FixturePath("smmu-v3.dts"), jgg, reused);
        Assert.True(reused.ProfileHits > 0);
        var none = ScanRunner.ScanFile(KernelRun.FixturePath("smmu-v3.dts"), jgg, tiny);
        Assert.Equal(0, tiny.ProfileHits);
        Assert.Equal(0, tiny.Bytes);
        Assert.Equal(full.Profiles.Select(p => string.Join("|", p.Violations)), none.Profiles.Select(p => string.Join("|", p.Violations)));
    }

    private static (Platform Platform, IReadOnlyList<Cluster> Clusters) Build(string dts)
    {
        var tree = DeviceTreeLoader.Load(Encoding.UTF8.GetBytes(dts), "t.dts", FirmwareLimitsDefault);
        var (platform, error) = DtPlatformBuilder.Build(tree, new PlatformKnobs(), []);
        Assert.True(platform is not null, error);
        return (platform!, Clusters.Of(platform!));
    }

    private static IommuLab.Firmware.FirmwareLimits FirmwareLimitsDefault => IommuLab.Firmware.FirmwareLimits.Default;

    [Fact]
    public void A_cluster_platform_keeps_the_cluster_its_namesakes_the_iommu_that_consumes_it_and_the_foreign_stand_in_and_nothing_else()
    {
        var (platform, clusters) = Build(Crowded);
        var a = Assert.Single(clusters, c => c.Consumers.Any(x => platform.Devices[x].Path == "/soc/usb@382280000"));
        Assert.Equal(["/soc/iommu@482f00000"], a.Foreign.Select(i => platform.Instances[i].Path));
        var view = ClusterPlatform.Of(platform, a);
        var paths = view.Platform.Devices.Select(d => d.Path).ToList();
        Assert.Equal(["/soc/iommu@382f00000", "/soc/iommu@482f00000", "/soc/iommu@582f00000", "/soc/usb@382280000", "/other/usb@382280000"], paths);
        Assert.True(view.Renumbered);
        Assert.Equal(["/soc/usb@382280000"], view.Cluster.Consumers.Select(c => view.Platform.Devices[c].Path));
        Assert.Equal(a.Instances.Select(i => platform.Instances[i].Path), view.Cluster.Instances.Select(i => view.Platform.Instances[i].Path));
        Assert.All(view.Platform.Devices, d => Assert.All(d.Iommus.Refs, r => Assert.Equal(r.TargetPath, view.Platform.Instances[r.Instance!.Value].Path)));
        Assert.DoesNotContain("/soc/usb@482280000", paths);
    }

    [Fact]
    public void The_fingerprint_ignores_the_file_name_but_not_a_stream_id()
    {
        var cache = new ScanCache();
        string Key(string dts, string name)
        {
            var tree = DeviceTreeLoader.Load(Encoding.UTF8.GetBytes(dts), name, FirmwareLimitsDefault);
            var platform = DtPlatformBuilder.Build(tree, new PlatformKnobs(), []).Platform!;
            var cluster = Clusters.Of(platform).Single(c => c.Consumers.Any(x => platform.Devices[x].Path == "/soc/usb@482280000"));
            return cache.Key(cache.PlatformDigest(ClusterPlatform.Of(platform, cluster)), Profiles.K616, new ScanOptions());
        }

        var key = Key(Crowded, "one.dts");
        Assert.Equal(key, Key(Crowded, "two.dts"));
        Assert.NotEqual(key, Key(Crowded.Replace("<&dart_b 1>", "<&dart_b 2>", StringComparison.Ordinal), "one.dts"));
        Assert.NotEqual(key, Key(Crowded.Replace("\"apple,pinctrl\"", "\"apple,pinctrl\"; iommus = <&dart_b 3>", StringComparison.Ordinal), "one.dts"));
    }
}

/// <summary>A scan's verdicts for a cluster are what the explorer reports, counterexamples left out.</summary>
public sealed class ScanVerdictTests
{
    public static TheoryData<string> Fixtures =>
        [.. Directory.GetFiles(Path.GetDirectoryName(KernelRun.FixturePath("single-dart.dts"))!, "*.dts").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Scan_verdicts_equal_the_explorers_violations_and_executions_under_every_profile(string fixture)
    {
        var tree = DeviceTreeLoader.LoadFile(KernelRun.FixturePath(fixture));
        var platform = DtPlatformBuilder.Build(tree, new PlatformKnobs(), []).Platform!;

        // Budget 2 cuts most clusters, so the random sample runs too.
        foreach (var (budget, profile) in new[] { 50, 2 }.SelectMany(b => Profiles.All.Select(p => (b, p))))
        {
            var options = new ScanOptions { ExhaustiveBudget = budget, SampleBudget = 10, Seed = 3 };
            foreach (var cluster in Clusters.Of(platform))
            {
                var system = new KernelSystem(platform, profile, Granularity.Coarse, cluster);
                var scan = ScanRunner.Verdicts(system, options);
                var exhaustive = new ExplorationOptions { Strategy = StrategyKind.Exhaustive, Budget = budget, Minimize = false, StopWhenUnprovable = true };
                var explored = Explorer.CheckCluster(system, exhaustive);
                var executions = (long)explored.Result.Executions;
                var violations = explored.Violations.Select(c => (c.Invariant, c.Device, c.Message)).ToList();
                if (!explored.Result.Complete)
                {
                    var more = Explorer.CheckCluster(system, exhaustive with { Strategy = StrategyKind.Random, Budget = 10, Seed = 3 });
                    executions += more.Result.Executions;
                    violations.AddRange(more.Violations.Select(c => (c.Invariant, c.Device, c.Message)));
                }

                Assert.Equal(executions, scan.Executions);
                Assert.Equal(explored.Result.Complete, scan.Complete);
                Assert.Equal(violations.Distinct().Order(), scan.Violations.Distinct().Order());
            }
        }
    }
}

/// <summary>A scan tells outcomes apart as the joined I5 key does, without joining the facts.</summary>
public sealed class FactsComparerTests
{
    [Fact]
    public void Facts_compare_and_hash_as_their_joined_key()
    {
        var c = ScanRunner.FactsComparer.Instance;
        System.Collections.Immutable.ImmutableArray<string> a = ["/soc/usb A dma=iommu-dma", "/soc/isp N dma=direct"];
        System.Collections.Immutable.ImmutableArray<string> same = ["/soc/usb A dma=iommu-dma", "/soc/isp N dma=direct"];
        System.Collections.Immutable.ImmutableArray<string> joined = ["/soc/usb A dma=iommu-dma\n/soc/isp N dma=direct"];
        System.Collections.Immutable.ImmutableArray<string> other = ["/soc/usb A dma=iommu-dma", "/soc/isp X dma=direct"];
        Assert.True(c.Equals(a, same));
        Assert.Equal(c.GetHashCode(a), c.GetHashCode(same));
        Assert.Equal(string.Join("\n", a), string.Join("\n", joined));
        Assert.True(c.Equals(a, joined));
        Assert.Equal(c.GetHashCode(a), c.GetHashCode(joined));
        Assert.False(c.Equals(a, other));
        Assert.NotEqual(c.GetHashCode(a), c.GetHashCode(other));
        Assert.False(c.Equals(a, System.Collections.Immutable.ImmutableArray<string>.Empty));

        // No facts and one empty fact join to the same empty key.
        System.Collections.Immutable.ImmutableArray<string> oneEmpty = [""];
        Assert.True(c.Equals(System.Collections.Immutable.ImmutableArray<string>.Empty, oneEmpty));
        Assert.Equal(c.GetHashCode(System.Collections.Immutable.ImmutableArray<string>.Empty), c.GetHashCode(oneEmpty));

        // A fact holding several lines hashes as those lines given as facts.
        System.Collections.Immutable.ImmutableArray<string> three = ["x", "y\nz"];
        System.Collections.Immutable.ImmutableArray<string> split = ["x\ny", "z"];
        Assert.True(c.Equals(three, split));
        Assert.Equal(c.GetHashCode(three), c.GetHashCode(split));
    }
}
