#pragma warning disable CS1573 // Records document only the parameters whose meaning is not obvious.

namespace IommuLab.Model.Scan;

/// <summary>Violations of one invariant under one profile.</summary>
public sealed record InvariantCount(string Invariant, int Devices, int Files);

/// <summary>Devices of one shape that break something under one profile.</summary>
public sealed record PatternCount(string Pattern, int Devices, int Files, IReadOnlyList<string> Invariants);

/// <summary>The figures of one profile over every readable file.</summary>
/// <param name="Files">Readable files scanned.</param>
/// <param name="CleanFiles">Files without any violation.</param>
/// <param name="Devices">Consumers explored (in a cluster).</param>
/// <param name="CleanDevices">Consumers without any violation.</param>
/// <param name="ProvedFiles">Files whose every cluster was explored exhaustively (a proof for that file).</param>
/// <param name="Clusters">Clusters explored.</param>
/// <param name="ProvedClusters">Clusters proved (the rest are samples).</param>
public sealed record ProfileSummary(
    string Profile,
    int Files,
    int CleanFiles,
    int Devices,
    int CleanDevices,
    int ProvedFiles,
    int Clusters,
    int ProvedClusters,
    long Executions,
    IReadOnlyList<InvariantCount> ByInvariant,
    IReadOnlyList<PatternCount> Patterns);

/// <summary>One lint rule over every file.</summary>
/// <param name="Locations">Distinct (file, DT path or offset) pairs the rule fired at.</param>
public sealed record LintCount(string Rule, string Severity, int Findings, int Locations, int Files);

/// <summary>The summary of a scan: per profile, lint, and the inputs that could not be read.</summary>
public sealed record ScanSummary(
    int Files,
    IReadOnlyDictionary<string, int> Kinds,
    int Consumers,
    int Clusters,
    int LargestCluster,
    IReadOnlyList<ProfileSummary> Profiles,
    IReadOnlyList<PatternCount> MultiInstance,
    IReadOnlyList<LintCount> Lint,
    IReadOnlyList<(string File, string Error)> Unreadable)
{
    /// <summary>Aggregates per-file results (in any order: everything is sorted here).</summary>
    public static ScanSummary Of(IReadOnlyList<ScanFileResult> results, IReadOnlyList<string> profiles)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(profiles);
        var files = results.OrderBy(r => r.Path, StringComparer.Ordinal).ToList();
        var readable = files.Where(f => f.Kind != ScanInputKind.Unreadable).ToList();
        var kinds = Enum.GetValues<ScanInputKind>().ToDictionary(k => k.ToString().ToLowerInvariant(), k => files.Count(f => f.Kind == k));
        var perProfile = new List<ProfileSummary>();
        foreach (var name in profiles)
        {
            var rows = readable.Select(f => (File: f, P: f.Profiles.FirstOrDefault(p => p.Profile == name))).Where(x => x.P is not null).ToList();
            var violations = rows.SelectMany(x => x.P!.Violations.Select(v => (x.File.Path, V: v))).ToList();
            var byInvariant = violations
                .GroupBy(x => x.V.Invariant, StringComparer.Ordinal)
                .Select(g => new InvariantCount(g.Key, g.Select(x => (x.Path, x.V.Device)).Distinct().Count(), g.Select(x => x.Path).Distinct(StringComparer.Ordinal).Count()))
                .OrderBy(c => Rank(c.Invariant))
                .ThenBy(c => c.Invariant, StringComparer.Ordinal)
                .ToList();
            var patterns = violations
                .GroupBy(x => x.V.Pattern, StringComparer.Ordinal)
                .Select(g => new PatternCount(
                    g.Key,
                    g.Select(x => (x.Path, x.V.Device)).Distinct().Count(),
                    g.Select(x => x.Path).Distinct(StringComparer.Ordinal).Count(),
                    [.. g.Select(x => x.V.Invariant).Distinct(StringComparer.Ordinal).OrderBy(Rank).ThenBy(i => i, StringComparer.Ordinal)]))
                .OrderByDescending(p => p.Devices)
                .ThenBy(p => p.Pattern, StringComparer.Ordinal)
                .ToList();
            perProfile.Add(new ProfileSummary(
                name,
                rows.Count,
                rows.Count(x => x.P!.Violations.Count == 0),
                rows.Sum(x => x.File.Consumers),
                rows.Sum(x => x.File.Consumers - x.P!.Violations.Where(v => !v.Pattern.EndsWith("(IOMMU instance)", StringComparison.Ordinal)).Select(v => v.Device).Distinct(StringComparer.Ordinal).Count()),
                rows.Count(x => x.P!.Proof),
                rows.Sum(x => x.File.Clusters),
                rows.Sum(x => x.P!.Proved),
                rows.Sum(x => x.P!.Executions),
                byInvariant,
                patterns));
        }

        var multi = readable
            .SelectMany(f => f.MultiInstance.Select(m => (f.Path, m.Device, m.Pattern)))
            .GroupBy(x => x.Pattern, StringComparer.Ordinal)
            .Select(g => new PatternCount(g.Key, g.Count(), g.Select(x => x.Path).Distinct(StringComparer.Ordinal).Count(), []))
            .OrderByDescending(p => p.Devices)
            .ThenBy(p => p.Pattern, StringComparer.Ordinal)
            .ToList();
        var lint = files
            .SelectMany(f => f.Lint)
            .GroupBy(l => l.RuleId, StringComparer.Ordinal)
            .Select(g => new LintCount(
                g.Key,
                Firmware.Lint.Severities.Name(g.Max(x => x.Severity)),
                g.Count(),
                g.Select(x => (x.File, x.Location)).Distinct().Count(),
                g.Select(x => x.File).Distinct(StringComparer.Ordinal).Count()))
            .OrderBy(c => c.Rule, StringComparer.Ordinal)
            .ToList();
        return new ScanSummary(
            files.Count,
            kinds,
            readable.Sum(f => f.Consumers),
            readable.Sum(f => f.Clusters),
            readable.Count == 0 ? 0 : readable.Max(f => f.LargestCluster),
            perProfile,
            multi,
            lint,
            [.. files.Where(f => f.Kind == ScanInputKind.Unreadable).Select(f => (f.Path, f.Error ?? "unreadable"))]);
    }

    private static int Rank(string invariant) => int.TryParse(invariant.AsSpan(1), out var n) ? n : 99;
}
