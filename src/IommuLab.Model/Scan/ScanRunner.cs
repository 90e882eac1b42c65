#pragma warning disable CS1573 // Records document only the parameters whose meaning is not obvious.

using System.Collections.Immutable;
using System.Diagnostics;
using System.Runtime.ExceptionServices;
using IommuLab.Firmware;
using IommuLab.Firmware.Acpi;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.Lint;
using IommuLab.Firmware.Topology;
using IommuLab.Model.Exploration;
using IommuLab.Model.Kernel;
using IommuLab.Model.Lint;

namespace IommuLab.Model.Scan;

/// <summary>How a scan explores each file.</summary>
public sealed record ScanOptions
{
    public IReadOnlyList<Profile> Profiles { get; init; } = Kernel.Profiles.All;

    /// <summary>Files checked in parallel.</summary>
    public int Jobs { get; init; } = Environment.ProcessorCount;

    /// <summary>
    /// Executions per cluster the exhaustive (optimal DPOR) exploration may run; a cluster that finishes within it
    /// is proved, one that does not is sampled instead.
    /// </summary>
    public int ExhaustiveBudget { get; init; } = 50;

    /// <summary>Random executions run on a cluster too large to prove (in addition to the exhaustive attempt's executions).</summary>
    public int SampleBudget { get; init; } = 10;

    /// <summary>Seed of the random sample (the same seed gives the same sample).</summary>
    public int Seed { get; init; }

    public Granularity Granularity { get; init; } = Granularity.Coarse;

    /// <summary>Parser limits (the `--max-*` switches), as for every other command.</summary>
    public FirmwareLimits Limits { get; init; } = FirmwareLimits.Default;

    /// <summary>
    /// Reuse the result of a cluster identical to one already explored in this scan (<see cref="ScanCache"/>): same
    /// restricted platform, switches, granularity, budgets and seed. The output is the same either way.
    /// </summary>
    public bool Memoize { get; init; } = true;

    /// <summary>Bound on the memory <see cref="Memoize"/> may hold (keys and outcomes).</summary>
    public long CacheBytes { get; init; } = ScanCache.DefaultMaxBytes;

    /// <summary>
    /// Boot every device of the file in every execution instead of only what the cluster can observe
    /// (<see cref="ClusterPlatform"/>); slower, for checking that the restriction changes nothing. Fine granularity
    /// always boots the whole platform.
    /// </summary>
    public bool BootWholePlatform { get; init; }
}

/// <summary>What kind of input a scanned file turned out to be.</summary>
public enum ScanInputKind
{
    Dtb,
    Dts,
    Iort,
    Viot,

    /// <summary>Could not be read or decoded; <see cref="ScanFileResult.Error"/> says why.</summary>
    Unreadable,
}

/// <summary>One invariant broken by one device under one profile.</summary>
/// <param name="Pattern">The device's shape: its compatible and the IOMMU instances it references, for grouping.</param>
public sealed record ScanViolation(string Invariant, string Device, string Pattern, string Message);

/// <summary>A file under one profile: how its clusters were explored and what broke.</summary>
/// <param name="Proved">Clusters explored exhaustively within the budget (every Mazurkiewicz trace: a proof).</param>
/// <param name="Sampled">Clusters too large to prove: the exhaustive attempt's executions plus a random sample.</param>
public sealed record ScanProfileResult(string Profile, int Proved, int Sampled, long Executions, IReadOnlyList<ScanViolation> Violations)
{
    public bool Proof => Sampled == 0;

    /// <summary>Distinct devices with at least one violation.</summary>
    public int ViolatingDevices => Violations.Select(v => v.Device).Distinct(StringComparer.Ordinal).Count();
}

/// <summary>The scan of one file.</summary>
/// <param name="Consumers">Consumers the explorer checks (devices referencing an IOMMU instance).</param>
/// <param name="Clusters">Independent clusters those consumers fall into (explored separately).</param>
/// <param name="LargestCluster">Consumers in the largest cluster.</param>
/// <param name="MultiInstance">Consumers whose references name more than one IOMMU instance, with their patterns
/// (the shape the binding path handles worst: half-configured when the instances register in the wrong order).</param>
/// <param name="Lint">The file's lint findings (every profile's rules).</param>
/// <param name="Elapsed">Wall time; shown only on request, since it differs from run to run.</param>
public sealed record ScanFileResult(
    string Path,
    ScanInputKind Kind,
    string? Error,
    int Consumers,
    int Clusters,
    int LargestCluster,
    IReadOnlyList<ScanProfileResult> Profiles,
    IReadOnlyList<(string Device, string Pattern)> MultiInstance,
    IReadOnlyList<LintFinding> Lint,
    TimeSpan Elapsed);

/// <summary>
/// The engine of <c>iommulab scan</c>: loads each file (DTB, DTS, IORT or VIOT), lints it, builds the platform the
/// model boots, and explores every independent cluster under every profile. A file that cannot be read or decoded
/// becomes an <see cref="ScanInputKind.Unreadable"/> result; the scan goes on. Results come back in input order
/// whatever the thread count, and nothing in them depends on timing except <see cref="ScanFileResult.Elapsed"/>.
/// </summary>
public static class ScanRunner
{
    /// <summary>Scans <paramref name="files"/> on <see cref="ScanOptions.Jobs"/> threads.</summary>
    /// <param name="onFile">Called once per finished file (from worker threads), for progress.</param>
    /// <param name="cache">Where cluster results are reused (null: a new one when <see cref="ScanOptions.Memoize"/>).</param>
    public static IReadOnlyList<ScanFileResult> Run(IReadOnlyList<string> files, ScanOptions options, Action<ScanFileResult>? onFile = null, CancellationToken cancel = default, ScanCache? cache = null)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(options);
        var results = new ScanFileResult[files.Count];
        cache ??= options.Memoize ? new ScanCache(options.CacheBytes) : null;

        // Largest files first: they are the long poles, and starting them early keeps every core busy to the end.
        var order = Enumerable.Range(0, files.Count).OrderByDescending(i => SizeOf(files[i])).ThenBy(i => i).ToArray();
        Parallel.ForEach(
            order,
            new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, options.Jobs), CancellationToken = cancel },
            i =>
            {
                results[i] = ScanFileGuarded(files[i], options, cache);
                onFile?.Invoke(results[i]);
            });
        return results;
    }

    /// <summary>
    /// One file, never throwing: a failure inside the model is a bug in IommuLab, but one file must not take the
    /// scan of thousands down with it; it is listed like an unreadable file, saying whose fault it is.
    /// </summary>
    private static ScanFileResult ScanFileGuarded(string path, ScanOptions options, ScanCache? cache)
    {
        try
        {
            return ScanFile(path, options, cache);
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            return Unreadable(path, $"internal error in IommuLab, please report it with this file: {ex.GetType().Name}: {ex.Message}", TimeSpan.Zero);
        }
    }

    private static long SizeOf(string path)
    {
        try
        {
            return new FileInfo(path).Length;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return 0;
        }
    }

    /// <summary>Reads and scans one file.</summary>
    /// <param name="cache">Cluster results shared with other files of the scan (null: none).</param>
    public static ScanFileResult ScanFile(string path, ScanOptions options, ScanCache? cache = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        var sw = Stopwatch.StartNew();
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            return Unreadable(path, $"cannot read the file: {ex.Message}", sw.Elapsed);
        }

        return ScanBytes(bytes, path, options, sw, cache);
    }

    /// <summary>Scans bytes already in memory: an IORT/VIOT table by its signature, else a DTB or DTS.</summary>
    /// <param name="cache">Cluster results shared with other files of the scan (null: none).</param>
    public static ScanFileResult ScanBytes(byte[] bytes, string name, ScanOptions options, Stopwatch? sw = null, ScanCache? cache = null)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(options);
        sw ??= Stopwatch.StartNew();
        ScanInputKind kind;
        Platform? platform;
        string? error;
        LintReport lint;
        try
        {
            if (AcpiTable.LooksLikeAcpiTable(bytes))
            {
                var table = AcpiTable.Load(bytes, name, options.Limits.Acpi);
                kind = table is Firmware.Acpi.Viot.ViotTable ? ScanInputKind.Viot : ScanInputKind.Iort;
                lint = Linter.LintAcpi(table, name);
                (platform, error) = AcpiPlatformBuilder.Build(table, new PlatformKnobs(), []);
            }
            else
            {
                var tree = DeviceTreeLoader.Load(bytes, name, options.Limits);
                kind = DtbReader.LooksLikeDtb(bytes) ? ScanInputKind.Dtb : ScanInputKind.Dts;

                // One topology decode and one platform build serve the lint and the exploration. A build that throws
                // throws where it used to: inside the lint when the driver rules build it, else after the lint.
                var topology = IommuTopology.Decode(tree);
                (Platform? Platform, string? Error) built = default;
                ExceptionDispatchInfo? failed = null;
                try
                {
                    built = DtPlatformBuilder.Build(tree, new PlatformKnobs(), [], topology: topology);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException and not OperationCanceledException)
                {
                    failed = ExceptionDispatchInfo.Capture(ex);
                }

                (Platform? Platform, string? Error) Built()
                {
                    failed?.Throw();
                    return built;
                }

                lint = Linter.LintTree(tree, name, new LintOptions { Profiles = options.Profiles, Limits = options.Limits }, topology, Built);
                (platform, error) = Built();
            }
        }
        catch (FirmwareFormatException ex)
        {
            return Unreadable(name, ex.Message, sw.Elapsed);
        }

        if (platform is null)
        {
            return Unreadable(name, error ?? "the model cannot build a platform from this file", sw.Elapsed);
        }

        var clusters = Clusters.Of(platform);
        var patterns = new Dictionary<string, string>(StringComparer.Ordinal);
        var views = new ClusterView?[clusters.Count];
        var profiles = options.Profiles.Select(p => Explore(platform, p, clusters, views, options, patterns, cache)).ToList();
        var multi = clusters
            .SelectMany(c => c.Consumers)
            .Select(i => platform.Devices[i])
            .Where(d => d.Iommus.Refs.Where(r => r.Instance is not null).Select(r => r.Instance).Distinct().Count() > 1)
            .Select(d => (d.Path, PatternOf(platform, d.Path, patterns)))
            .OrderBy(x => x.Path, StringComparer.Ordinal)
            .ToList();
        return new ScanFileResult(
            name,
            kind,
            null,
            clusters.Sum(c => c.Consumers.Length),
            clusters.Count,
            clusters.Count == 0 ? 0 : clusters.Max(c => c.Consumers.Length),
            profiles,
            multi,
            lint.Findings,
            sw.Elapsed);
    }

    private static ScanFileResult Unreadable(string path, string error, TimeSpan elapsed) =>
        new(path, ScanInputKind.Unreadable, error, 0, 0, 0, [], [], [], elapsed);

    /// <summary>
    /// One profile over every cluster: exhaustive within the budget (a proof), else the attempt's executions plus a seeded random
    /// sample. Counterexamples are not minimised (scan reports which invariant breaks where; `check FILE` gives
    /// the minimal schedules).
    /// </summary>
    private static ScanProfileResult Explore(Platform platform, Profile profile, IReadOnlyList<Cluster> clusters, ClusterView?[] views, ScanOptions options, Dictionary<string, string> patterns, ScanCache? cache)
    {
        var proved = 0;
        var sampled = 0;
        long executions = 0;
        var violations = new List<ScanViolation>();
        var seen = new HashSet<(string, string, string)>();
        for (var i = 0; i < clusters.Count; i++)
        {
            var outcome = ExploreCluster(platform, profile, clusters[i], ref views[i], options, cache);
            executions += outcome.Executions;
            if (outcome.Complete)
            {
                proved++;
            }
            else
            {
                sampled++;
            }

            foreach (var c in outcome.Violations)
            {
                if (seen.Add(c))
                {
                    violations.Add(new ScanViolation(c.Invariant, c.Device, PatternOf(platform, c.Device, patterns), c.Message));
                }
            }
        }

        violations.Sort(static (a, b) =>
        {
            var d = string.CompareOrdinal(a.Device, b.Device);
            return d != 0 ? d : Rank(a.Invariant) != Rank(b.Invariant) ? Rank(a.Invariant).CompareTo(Rank(b.Invariant)) : string.CompareOrdinal(a.Message, b.Message);
        });
        return new ScanProfileResult(profile.Name, proved, sampled, executions, violations);
    }

    /// <summary>A cluster's restricted platform and its digest, built at the first profile that needs them.</summary>
    private sealed record ClusterView(ClusterPlatform Platform, byte[]? Digest);

    /// <summary>
    /// One cluster under one profile: exhaustive within the budget (a proof), else the attempt's executions plus a seeded random
    /// sample, on the cluster's restricted platform under coarse events (<see cref="ClusterPlatform"/>), reusing
    /// the result of an identical cluster explored before.
    /// </summary>
    private static ClusterScanOutcome ExploreCluster(Platform platform, Profile profile, Cluster cluster, ref ClusterView? view, ScanOptions options, ScanCache? cache)
    {
        if (options.Granularity != Granularity.Coarse || options.BootWholePlatform)
        {
            return Verdicts(new KernelSystem(platform, profile, options.Granularity, cluster) { QuietLog = true }, options);
        }

        view ??= new ClusterView(ClusterPlatform.Of(platform, cluster), null);
        var restricted = view.Platform;
        if (cache is null)
        {
            return Verdicts(new KernelSystem(restricted.Platform, profile, options.Granularity, restricted.Cluster) { QuietLog = true }, options);
        }

        if (view.Digest is null)
        {
            view = view with { Digest = cache.PlatformDigest(restricted) };
        }

        return cache.GetOrExplore(view.Digest!, profile, options, tracked => Verdicts(new KernelSystem(restricted.Platform, tracked, options.Granularity, restricted.Cluster) { QuietLog = true }, options));
    }

    /// <summary>
    /// A cluster as a scan explores it: exhaustively within <see cref="ScanOptions.ExhaustiveBudget"/> (a proof),
    /// else the executions that attempt ran (it stops once a proof is out of reach: OptimalDporStrategy's
    /// stopWhenUnprovable) plus <see cref="ScanOptions.SampleBudget"/> seeded random executions. The violations are
    /// those <see cref="Explorer.CheckCluster"/> reports, without building counterexamples (see <see cref="ExploreOnce"/>).
    /// </summary>
    public static ClusterScanOutcome Verdicts(KernelSystem system, ScanOptions options)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(options);
        var (executions, complete, found) = ExploreOnce(system, StrategyKind.Exhaustive, options.ExhaustiveBudget, 0);
        if (!complete && options.SampleBudget > 0)
        {
            var (more, _, sampled) = ExploreOnce(system, StrategyKind.Random, options.SampleBudget, options.Seed);
            executions += more;
            found.AddRange(sampled);
        }

        return new ClusterScanOutcome(executions, complete, [.. found]);
    }

    /// <summary>
    /// What <see cref="Explorer.CheckCluster"/> reports of a cluster, without the counterexamples a scan does not
    /// show: every execution's violations (I1-I4, I6-I15, I17, IDMA) and I5, a consumer whose fact differs from the
    /// first outcome's in some other outcome, with the same message. Building counterexamples replays one execution
    /// per violation and two per order-dependent consumer (with <c>Minimize = false</c>); a scan skips them.
    /// ScanCacheTests checks that the two agree.
    /// </summary>
    private static (long Executions, bool Complete, List<(string Invariant, string Device, string Message)> Found) ExploreOnce(KernelSystem system, StrategyKind kind, int budget, int seed)
    {
        // A scan wants the proof or the sample: the exhaustive run stops once it cannot be a proof.
        var strategy = StrategyNames.Create(kind, budget, seed, stopWhenUnprovable: true);
        var outcomes = new List<RunOutcome>();
        var outcomeKeys = new HashSet<ImmutableArray<string>>(FactsComparer.Instance);
        var found = new List<(string Invariant, string Device, string Message)>();
        var foundKeys = new HashSet<(string, string, string)>();
        var result = strategy.Explore(system, new Executor(), rec =>
        {
            if (outcomeKeys.Add(rec.Outcome.Facts))
            {
                outcomes.Add(rec.Outcome);
            }

            foreach (var v in rec.Outcome.Violations)
            {
                if (foundKeys.Add((v.Invariant, v.Device, v.Message)))
                {
                    found.Add((v.Invariant, v.Device, v.Message));
                }
            }
        });

        if (outcomes.Count >= 2)
        {
            var first = outcomes[0];
            for (var j = 0; j < system.Cluster.Consumers.Length && j < first.Facts.Length; j++)
            {
                var other = outcomes.Skip(1).FirstOrDefault(o => o.Facts.Length > j && o.Facts[j] != first.Facts[j]);
                if (other is null)
                {
                    continue;
                }

                var device = system.Platform.Devices[system.Cluster.Consumers[j]].Path;
                var otherBroken = other.Violations.Any(v => v.Device == device);
                var firstBroken = first.Violations.Any(v => v.Device == device);
                var (bad, good) = otherBroken || !firstBroken ? (other.Facts[j], first.Facts[j]) : (first.Facts[j], other.Facts[j]);
                found.Add(("I5", device, $"order dependence: {Explorer.Difference(bad, good)}"));
            }
        }

        return (result.Executions, result.Complete, found);
    }

    /// <summary>
    /// Outcomes compared as their joined <see cref="RunOutcome.Key"/> would be, without building it: the hash runs over
    /// the facts' characters with the separators, and facts that differ are compared joined (a fact could hold one).
    /// </summary>
    public sealed class FactsComparer : IEqualityComparer<ImmutableArray<string>>
    {
        public static readonly FactsComparer Instance = new();

        public bool Equals(ImmutableArray<string> x, ImmutableArray<string> y) =>
            x.AsSpan().SequenceEqual(y.AsSpan()) || string.Join("\n", x) == string.Join("\n", y);

        public int GetHashCode(ImmutableArray<string> facts)
        {
            // A function of the joined text: the hashes of its lines (the facts, split further where one holds a
            // newline), each by the runtime's vectorised string hash.
            var h = new HashCode();
            if (facts.IsDefaultOrEmpty)
            {
                h.Add(string.GetHashCode(ReadOnlySpan<char>.Empty));
                return h.ToHashCode();
            }

            foreach (var fact in facts)
            {
                var rest = fact.AsSpan();
                for (var nl = rest.IndexOf('\n'); nl >= 0; nl = rest.IndexOf('\n'))
                {
                    h.Add(string.GetHashCode(rest[..nl]));
                    rest = rest[(nl + 1)..];
                }

                h.Add(string.GetHashCode(rest));
            }

            return h.ToHashCode();
        }
    }

    private static int Rank(string invariant) => int.TryParse(invariant.AsSpan(1), out var n) ? n : 99;

    /// <summary>
    /// A device's shape, independent of its address: "compatible with N x instance-compatible" for a consumer
    /// ("apple,t8103-dwc3 with 2 x apple,t8103-dart"), the instance's compatible for an IOMMU instance.
    /// </summary>
    public static string PatternOf(Platform platform, string devicePath, Dictionary<string, string>? cache = null)
    {
        ArgumentNullException.ThrowIfNull(platform);
        ArgumentNullException.ThrowIfNull(devicePath);
        if (cache is not null && cache.TryGetValue(devicePath, out var known))
        {
            return known;
        }

        string pattern;
        if (platform.Instances.FirstOrDefault(i => i.Path == devicePath) is { } inst)
        {
            pattern = $"{inst.Compatible} (IOMMU instance)";
        }
        else if (platform.Devices.FirstOrDefault(d => d.Path == devicePath) is { } dev)
        {
            var self = dev.IsPci ? "PCI function" : dev.Compatible ?? dev.Name;
            var targets = dev.Iommus.Refs
                .Where(r => r.Instance is not null)
                .Select(r => r.Instance!.Value)
                .Distinct()
                .GroupBy(i => platform.Instances[i].Compatible, StringComparer.Ordinal)
                .OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => $"{g.Count()} x {g.Key}")
                .ToList();
            pattern = targets.Count == 0 ? self : $"{self} with {string.Join(" + ", targets)}";
        }
        else
        {
            pattern = "(not a device of the platform)";
        }

        if (cache is not null)
        {
            cache[devicePath] = pattern;
        }

        return pattern;
    }
}
