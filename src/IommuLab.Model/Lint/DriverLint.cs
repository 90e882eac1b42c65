using System.Globalization;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.Lint;
using IommuLab.Firmware.Topology;
using IommuLab.Model.Kernel;

namespace IommuLab.Model.Lint;

/// <summary>The lint rules that need driver facts (apple-dart variants, arm-smmu-v3) and per-profile switches.</summary>
public static class DriverLintRules
{
    public const string DartTooMany = "dart-too-many";
    public const string DartSidOutOfRange = "dart-sid-out-of-range";
    public const string DartGangPageSize = "dart-gang-pgsize-mismatch";
    public const string DartGangBypass = "dart-gang-bypass-mismatch";
    public const string DartGangIas = "dart-gang-ias-mismatch";
    public const string DartLockedNotFirst = "dart-locked-not-first";
    public const string SmmuDuplicateStreamId = "smmu-duplicate-stream-id";
    public const string KnobInvalid = "iommulab-knob-invalid";

    public static IReadOnlyList<LintRule> All { get; } =
    [
        new(DartTooMany, ProblemSeverity.Error, "more distinct DARTs than MAX_DARTS_PER_DEVICE (per profile)",
            "split the device's streams so it uses at most MAX_DARTS_PER_DEVICE DARTs, or require a kernel that allows more (v6.15+: 3)"),
        new(DartSidOutOfRange, ProblemSeverity.Error, "stream ID beyond the DART's stream count",
            "use a stream ID below the DART's stream count, or check the DART's compatible (its variant)"),
        new(DartGangPageSize, ProblemSeverity.Error, "DARTs of one device with different page sizes",
            "list only DARTs with equal page sizes for one device"),
        new(DartGangBypass, ProblemSeverity.Error, "DARTs of one device with different bypass support (per profile)",
            "list only DARTs with equal bypass support, or require v6.15+ (which accepts the mismatch)"),
        new(DartGangIas, ProblemSeverity.Error, "DARTs of one device with different input address sizes (per profile)",
            "list only DARTs with equal ias for one device"),
        new(DartLockedNotFirst, ProblemSeverity.Warning, "a locked DART not listed first",
            "list the locked DART first in iommus"),
        new(SmmuDuplicateStreamId, ProblemSeverity.Error, "one stream ID used twice on one arm-smmu-v3",
            "give each device its own stream IDs on the SMMU"),
        new(KnobInvalid, ProblemSeverity.Warning, "iommulab,* model properties that cannot be read (driver rules skipped)",
            "fix or remove the iommulab,* property named"),
    ];
}

/// <summary>
/// apple-dart and arm-smmu-v3 rules over a decoded topology and the platform the model builds from it (DART
/// parameters come from the variant table and the <c>iommulab,*</c> properties, since a DT carries no register
/// contents). Pure functions: safe to call from many threads at once.
/// </summary>
public static class DriverLint
{
    /// <summary>Cap on duplicate-stream findings per SMMU: hostile maps could pair every entry with every other.</summary>
    private const int MaxDuplicatesPerSmmu = 64;

    public static IReadOnlyList<LintFinding> Check(DeviceTree tree, IommuTopology topology, Platform platform, IReadOnlyList<Profile> profiles, string file)
    {
        ArgumentNullException.ThrowIfNull(tree);
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(platform);
        ArgumentNullException.ThrowIfNull(profiles);
        var instances = platform.Instances.ToDictionary(i => i.Path, StringComparer.Ordinal);
        var findings = new List<LintFinding>();
        foreach (var c in topology.Consumers.Where(c => c.Status.IsAvailable))
        {
            Dart(tree, c, instances, profiles, file, findings);
        }

        DuplicateStreams(topology, instances, file, findings);
        return findings;
    }

    /// <summary>I15 (spec §6.2, §6.6, §7): gang size per profile, sid range, page size / bypass / ias equality, locked first.</summary>
    private static void Dart(DeviceTree tree, IommusConsumer c, Dictionary<string, IommuInstanceInfo> instances, IReadOnlyList<Profile> profiles, string file, List<LintFinding> findings)
    {
        var refs = c.References.Where(r => instances.TryGetValue(r.TargetPath, out var i) && i.Dart is not null).ToList();
        if (refs.Count == 0)
        {
            return;
        }

        void Add(string rule, ProblemSeverity severity, string message, string? fix = null) =>
            findings.Add(new LintFinding(rule, severity, file, c.Path, null, message, fix ?? DriverLintRules.All.First(r => r.Id == rule).FixHint));

        // Slot order is the order of first appearance (apple_dart_of_xlate()).
        var gang = refs.Select(r => r.TargetPath).Distinct(StringComparer.Ordinal).Select(p => (Path: p, Hw: instances[p].Dart!)).ToList();
        if (profiles.Count > 0)
        {
            var over = profiles.Where(p => gang.Count > p.Switches.DartMaxDarts).ToList();
            if (over.Count > 0)
            {
                var within = profiles.Except(over).ToList();
                var rest = within.Count == 0 ? "" : $"; within the limit under {ByValue(within, p => p.Switches.DartMaxDarts)}";
                Add(DriverLintRules.DartTooMany, within.Count == 0 ? ProblemSeverity.Error : ProblemSeverity.Warning,
                    $"{gang.Count} distinct DARTs ({string.Join(", ", gang.Select(g => g.Path))}) exceed MAX_DARTS_PER_DEVICE under "
                    + $"{ByValue(over, p => p.Switches.DartMaxDarts)}: of_xlate finds no free slot (-EINVAL) and the device gets no IOMMU{rest}");
            }
        }

        foreach (var r in refs)
        {
            var hw = instances[r.TargetPath].Dart!;
            if (r.Args.Count == 1 && r.Args[0] >= (uint)hw.NumStreams)
            {
                var past = r.Args[0] >= 256 ? "; past 255 it does not even fit the 256-bit stream map" : "";
                Add(DriverLintRules.DartSidOutOfRange, ProblemSeverity.Error,
                    $"iommus[{r.Index}] stream ID {r.Args[0]} is beyond {r.TargetPath}'s {hw.NumStreams} streams ({Variant(tree, r.TargetPath, hw, "num-streams")}): "
                    + $"of_xlate stores it unchecked and every per-stream loop stops at num_streams, so the stream is never grouped or programmed{past}",
                    $"use a stream ID below {hw.NumStreams} for {r.TargetPath}, or check its compatible");
            }
        }

        if (gang.Count < 2)
        {
            return;
        }

        if (gang.Select(g => g.Hw.PgSize).Distinct().Count() > 1)
        {
            Add(DriverLintRules.DartGangPageSize, ProblemSeverity.Error,
                $"DARTs of one device have different page sizes ({Facts(tree, gang, g => g.Hw.PgSize.ToString(CultureInfo.InvariantCulture), "pgsize")}): "
                + "of_xlate fails the first DART that differs from slot 0 with -EINVAL under every profile");
        }

        if (gang.Select(g => g.Hw.SupportsBypass).Distinct().Count() > 1)
        {
            var rejecting = profiles.Where(p => p.Switches.DartBypass == DartBypassRule.RequireEqual).ToList();
            var accepting = profiles.Except(rejecting).ToList();
            var severity = accepting.Count == 0 ? ProblemSeverity.Error : rejecting.Count == 0 ? ProblemSeverity.Info : ProblemSeverity.Warning;
            var facts = Facts(tree, gang, g => g.Hw.SupportsBypass ? "bypass" : "no bypass", "bypass");
            var parts = new List<string>();
            if (rejecting.Count > 0)
            {
                parts.Add($"of_xlate rejects the mismatch with -EINVAL under {Names(rejecting)}");
            }

            if (accepting.Count > 0)
            {
                parts.Add($"{Names(accepting)} accept it and the device loses bypass (identity) domains");
            }

            Add(DriverLintRules.DartGangBypass, severity, $"DARTs of one device differ in bypass support ({facts}): {string.Join("; ", parts)}");
        }

        var iasChecking = profiles.Where(p => p.Switches.DartCheckIas).ToList();
        if (iasChecking.Count > 0 && gang.Select(g => g.Hw.Ias).Distinct().Count() > 1)
        {
            var severity = iasChecking.Count == profiles.Count ? ProblemSeverity.Error : ProblemSeverity.Warning;
            Add(DriverLintRules.DartGangIas, severity,
                $"DARTs of one device have different ias ({Facts(tree, gang, g => g.Hw.Ias.ToString(CultureInfo.InvariantCulture), "ias")}): "
                + $"of_xlate fails with -EINVAL under {Names(iasChecking)}");
        }

        for (var slot = 1; slot < gang.Count; slot++)
        {
            if (gang[slot].Hw.Locked && !gang[0].Hw.Locked)
            {
                Add(DriverLintRules.DartLockedNotFirst, ProblemSeverity.Warning,
                    $"locked DART {gang[slot].Path} ({Variant(tree, gang[slot].Path, gang[slot].Hw, "locked", "locked-sid")}) takes slot {slot}, after {gang[0].Path}: slot 0 decides the "
                    + "domain's format and, on Asahi kernels, whose bootloader TTBR is read back, so the locked DART must come first; "
                    + "on mainline a locked DART fails to probe and the device waits for it, then gets no IOMMU",
                    $"list {gang[slot].Path} first in iommus");
            }
        }
    }

    /// <summary>
    /// arm-smmu-v3 (spec §6.10): arm_smmu_insert_master() refuses a stream ID another master already put in the
    /// SMMU's stream tree ("stream %u already in tree", -EINVAL). Stream IDs come from enabled consumers'
    /// <c>iommus</c> and from enabled <c>iommu-map</c> output ranges; two map entries sharing a stream ID are two
    /// functions behind one bridge (a warning: they may be DMA aliases of one device).
    /// </summary>
    private static void DuplicateStreams(IommuTopology topology, Dictionary<string, IommuInstanceInfo> instances, string file, List<LintFinding> findings)
    {
        var claims = new List<Claim>();
        foreach (var c in topology.Consumers.Where(c => c.Status.IsAvailable))
        {
            foreach (var r in c.References.Where(r => r.Args.Count > 0 && IsSmmuV3(instances, r.TargetPath)))
            {
                claims.Add(new Claim(r.TargetPath, c.Path, false, r.Args[0], (ulong)r.Args[0] + 1, $"iommus[{r.Index}]"));
            }
        }

        foreach (var m in topology.MapUsers.Where(m => m.Status.IsAvailable && m.LayoutsAgree))
        {
            foreach (var e in m.TargetCells.Entries.Where(e => e.Length > 0 && e.OutBase.Count > 0 && e.TargetPath is not null && IsSmmuV3(instances, e.TargetPath)))
            {
                claims.Add(new Claim(e.TargetPath!, m.Path, true, e.OutBase[0], (ulong)e.OutBase[0] + e.Length,
                    $"iommu-map entry {e.Index} (IDs {Strings.Hex(e.IdBase)}-{Strings.Hex((uint)(e.IdEnd - 1))})"));
            }
        }

        foreach (var smmu in claims.Select(c => c.Smmu).Distinct(StringComparer.Ordinal))
        {
            var sorted = claims.Where(c => c.Smmu == smmu).Select((c, i) => (Claim: c, Order: i)).OrderBy(x => x.Claim.Start).ThenBy(x => x.Order).ToList();
            var reported = new HashSet<(string, string)>();
            var count = 0;
            for (var i = 0; i < sorted.Count && count < MaxDuplicatesPerSmmu; i++)
            {
                for (var j = i + 1; j < sorted.Count && sorted[j].Claim.Start < sorted[i].Claim.End && count < MaxDuplicatesPerSmmu; j++)
                {
                    // Report at the claim that comes later in the firmware, naming the earlier one.
                    var (first, second) = sorted[i].Order < sorted[j].Order ? (sorted[i].Claim, sorted[j].Claim) : (sorted[j].Claim, sorted[i].Claim);
                    // A SID listed twice by one master is skipped by arm_smmu_insert_master() (v6.12 and later:
                    // "bridged PCI devices may end up with duplicated IDs"), as the model's FwspecDriver does.
                    if ((first.Owner == second.Owner && !first.FromMap)
                        || !reported.Add((first.Owner + "\n" + first.What, second.Owner + "\n" + second.What)))
                    {
                        continue;
                    }

                    count++;
                    var sid = Math.Max(first.Start, second.Start);
                    var sameMap = first.Owner == second.Owner && first.FromMap;
                    var who = sameMap ? $"its own {first.What}" : $"{first.Owner} ({first.What})";
                    var consequence = sameMap
                        ? "two functions behind the bridge get the same stream ID, and the second to probe is refused unless they are DMA aliases of one device"
                        : "the device that probes second is refused and gets no IOMMU (during a registration walk, the SMMU's registration fails)";
                    findings.Add(new LintFinding(DriverLintRules.SmmuDuplicateStreamId, sameMap ? ProblemSeverity.Warning : ProblemSeverity.Error, file,
                        second.Owner, null,
                        $"{second.What} puts stream ID {Strings.Hex((uint)sid)} on {smmu}, which {who} already uses: arm_smmu_insert_master() "
                        + $"finds it in the stream tree (\"stream {sid} already in tree\", -EINVAL); {consequence}",
                        $"give {second.Owner} stream IDs on {smmu} that no other device uses"));
                }
            }
        }
    }

    private sealed record Claim(string Smmu, string Owner, bool FromMap, ulong Start, ulong End, string What);

    private static bool IsSmmuV3(Dictionary<string, IommuInstanceInfo> instances, string path) =>
        instances.TryGetValue(path, out var i) && i.Driver == IommuDriverKind.ArmSmmuV3;

    /// <summary>"K66, K67 (2); K615, K616 (3)": profile names grouped by a switch value.</summary>
    private static string ByValue(IReadOnlyList<Profile> profiles, Func<Profile, int> value) =>
        string.Join("; ", profiles.GroupBy(value).Select(g => $"{Names([.. g])} ({g.Key})"));

    private static string Names(IReadOnlyList<Profile> profiles) => string.Join(", ", profiles.Select(p => p.Name));

    /// <summary>"a: 16384 (iommulab,pgsize), b: 4096 (t8103 variant)": each DART's value and where it comes from.</summary>
    private static string Facts(DeviceTree tree, IReadOnlyList<(string Path, DartHardware Hw)> gang, Func<(string Path, DartHardware Hw), string> value, string knob) =>
        string.Join(", ", gang.Select(g => $"{g.Path}: {value(g)} ({Variant(tree, g.Path, g.Hw, knob)})"));

    /// <summary>Where a DART parameter comes from: the node's <c>iommulab,KNOB</c> property, else its variant.</summary>
    private static string Variant(DeviceTree tree, string path, DartHardware hw, params string[] knobs)
    {
        var node = tree.FindByPath(path);
        var knob = knobs.FirstOrDefault(k => node?.FindProperty("iommulab," + k) is not null);
        return knob is not null ? $"iommulab,{knob}" : $"{hw.Variant} variant";
    }
}
