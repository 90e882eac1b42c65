using System.Globalization;
using IommuLab.Cli.Commands;
using IommuLab.Model.Kernel;
using IommuLab.Model.Scan;

namespace IommuLab.Cli.Rendering;

/// <summary>The text summary of `scan`: what was explored and how, a table per profile, then the details.</summary>
public static class ScanText
{
    public static void Write(TextWriter o, ScanCommand.ScanReport report, bool showTime, int top)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(report);
        var s = report.Summary;
        var opts = report.Options;
        var kinds = string.Join(", ", s.Kinds.Where(k => k.Value > 0).Select(k => $"{k.Value} {k.Key}"));
        o.WriteLine($"scan: {s.Files} files ({kinds}) under {opts.Profiles.Count} profile(s): {string.Join(", ", opts.Profiles.Select(p => p.Name))}");
        o.WriteLine($"exploration: {(opts.Granularity == Model.Exploration.Granularity.Fine ? "fine (every scheduling point)" : "coarse events")}; each independent cluster exhaustively (optimal DPOR) "
            + $"up to {opts.ExhaustiveBudget} executions, a proof when it finishes; a cluster that does not is a sample: the attempt's executions (it stops once a proof is out of reach) plus {opts.SampleBudget} random executions (seed {opts.Seed})");
        o.WriteLine($"consumers explored: {s.Consumers} in {s.Clusters} independent clusters (largest: {s.LargestCluster} consumers); counterexamples are not minimised here: `iommulab check FILE` gives the shortest schedules");
        o.WriteLine();
        o.WriteLine($"{"profile",-12} {"files clean",13} {"devices clean",15} {"proved files",13} {"proved clusters",16} {"executions",11}  violations");
        foreach (var p in s.Profiles)
        {
            var invs = p.ByInvariant.Count == 0 ? "-" : string.Join(",", p.ByInvariant.Select(i => i.Invariant));
            o.WriteLine($"{p.Profile,-12} {$"{p.CleanFiles}/{p.Files}",13} {$"{p.CleanDevices}/{p.Devices}",15} {$"{p.ProvedFiles}/{p.Files}",13} {$"{p.ProvedClusters}/{p.Clusters}",16} {p.Executions,11}  {invs}");
        }

        foreach (var p in s.Profiles.Where(p => p.ByInvariant.Count > 0))
        {
            var profile = Profiles.Find(p.Profile);
            o.WriteLine();
            o.WriteLine($"== {p.Profile}{(profile is null ? "" : $" ({profile.Kernel})")}: {p.Files - p.CleanFiles} file(s), {p.Devices - p.CleanDevices} device(s) with violations");
            o.WriteLine("  by invariant:");
            foreach (var i in p.ByInvariant)
            {
                o.WriteLine($"    {i.Invariant,-5} {i.Devices,6} device(s) in {i.Files} file(s)");
            }

            o.WriteLine($"  top device patterns ({Math.Min(top, p.Patterns.Count)} of {p.Patterns.Count}):");
            foreach (var pat in p.Patterns.Take(top))
            {
                o.WriteLine($"    {pat.Devices,6} device(s) in {pat.Files,4} file(s)  {pat.Pattern}: {string.Join(",", pat.Invariants)}");
            }
        }

        var broken = report.Files
            .Where(f => f.Profiles.Any(p => p.Violations.Count > 0))
            .OrderBy(f => f.Path, StringComparer.Ordinal)
            .ToList();
        if (broken.Count > 0)
        {
            o.WriteLine();
            o.WriteLine($"files with violations ({broken.Count}; profiles: invariants):");
            foreach (var f in broken)
            {
                var groups = f.Profiles
                    .Where(p => p.Violations.Count > 0)
                    .GroupBy(p => string.Join(",", p.Violations.Select(v => v.Invariant).Distinct(StringComparer.Ordinal).OrderBy(Rank).ThenBy(x => x, StringComparer.Ordinal)), StringComparer.Ordinal)
                    .Select(g => $"{string.Join(",", g.Select(p => p.Profile))}: {g.Key}");
                o.WriteLine($"  {f.Path}  {string.Join("; ", groups)}");
            }
        }

        var sampled = report.Files.Where(f => f.Profiles.Any(p => !p.Proof)).OrderBy(f => f.Path, StringComparer.Ordinal).ToList();
        if (sampled.Count > 0)
        {
            o.WriteLine();
            o.WriteLine($"files sampled, not proved ({sampled.Count}; profiles: clusters sampled):");
            foreach (var f in sampled)
            {
                o.WriteLine($"  {f.Path}  {string.Join("; ", f.Profiles.Where(p => !p.Proof).Select(p => $"{p.Profile}: {p.Sampled} of {p.Proved + p.Sampled}"))}");
            }
        }

        if (s.MultiInstance.Count > 0)
        {
            o.WriteLine();
            o.WriteLine($"consumers of more than one IOMMU instance ({s.MultiInstance.Sum(m => m.Devices)}; translated only when every instance registers in time):");
            foreach (var m in s.MultiInstance)
            {
                o.WriteLine($"  {m.Devices,6} device(s) in {m.Files,4} file(s)  {m.Pattern}");
            }
        }

        if (s.Lint.Count > 0)
        {
            o.WriteLine();
            o.WriteLine("lint findings (`iommulab lint FILE` for each one with its fix):");
            o.WriteLine($"  {"rule",-34} {"severity",-8} {"findings",8} {"locations",9} {"files",6}");
            foreach (var l in s.Lint)
            {
                o.WriteLine($"  {l.Rule,-34} {l.Severity,-8} {l.Findings,8} {l.Locations,9} {l.Files,6}");
            }
        }

        if (s.Unreadable.Count > 0)
        {
            o.WriteLine();
            o.WriteLine($"unreadable files ({s.Unreadable.Count}, skipped):");
            foreach (var (file, error) in s.Unreadable)
            {
                o.WriteLine($"  {file}: {error}");
            }
        }

        if (showTime)
        {
            o.WriteLine();
            o.WriteLine($"slowest files (wall time of lint and every profile, {opts.Jobs} job(s)):");
            foreach (var f in report.Files.OrderByDescending(f => f.Elapsed).ThenBy(f => f.Path, StringComparer.Ordinal).Take(top))
            {
                o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {f.Elapsed.TotalMilliseconds,9:F0} ms  {f.Path} ({f.Consumers} consumers, {f.Clusters} clusters, largest {f.LargestCluster})"));
            }
        }
    }

    private static int Rank(string invariant) => int.TryParse(invariant.AsSpan(1), out var n) ? n : 99;
}
