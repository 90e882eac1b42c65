using IommuLab.Cli.Commands;
using IommuLab.Model.Exploration;

namespace IommuLab.Cli.Rendering;

/// <summary>The text report of `check`: a verdict table per profile, then each violation with its minimal schedule.</summary>
public static class CheckText
{
    public static void Write(TextWriter o, CheckCommand.CheckReport report, bool showTime)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(report);
        var opts = report.Request.Options;
        o.WriteLine($"check {report.Request.File}: {StrategyNames.GetName(opts.Strategy)} exploration, {(opts.Granularity == Granularity.Fine ? "fine (every scheduling point)" : "coarse events")}, {Clusters.Of(report.Platform).Count} independent cluster(s)");
        o.WriteLine();
        o.WriteLine($"{"profile",-12} {"verdict",-10} {"result",-8} {"executions",10} {"traces",8} {"violations",10}{(showTime ? "      time" : "")}");
        foreach (var r in report.Profiles)
        {
            var kind = r.Complete ? "proof" : "sample";
            var invs = r.Violations.Select(v => v.Invariant).Distinct().ToList();
            o.WriteLine($"{r.Profile.Name,-12} {r.Verdict,-10} {kind,-8} {r.Executions,10} {(r.TracesCapped ? ">=" + r.Traces : r.Traces.ToString(System.Globalization.CultureInfo.InvariantCulture)),8} {(invs.Count == 0 ? "-" : string.Join(",", invs)),10}{(showTime ? $" {r.Elapsed.TotalMilliseconds,7:F0} ms" : "")}");
        }

        foreach (var r in report.Profiles.Where(r => r.Violations.Count > 0))
        {
            o.WriteLine();
            o.WriteLine($"== {r.Profile.Name} ({r.Profile.Kernel})");
            foreach (var c in r.Violations)
            {
                o.WriteLine($"  {c.Invariant} {c.Device}: {c.Message}");
                o.WriteLine($"     shortest schedule ({c.Steps.Count} steps, {c.Explicit} chosen): {Schedule(c.Steps, c.Explicit)}");
                if (c.Contrast is { } other)
                {
                    o.WriteLine($"     contrast ({other.Steps.Count} steps, {other.Explicit} chosen): {Schedule(other.Steps, other.Explicit)}");
                }

                o.WriteLine($"     {c.DivergenceText}");
                if (report.TraceFiles.TryGetValue(c, out var f))
                {
                    o.WriteLine($"     trace: {f}");
                }
            }
        }
    }

    /// <summary>Chosen steps, then "|" and the deterministic completion; runs of one thread's fine steps collapse.</summary>
    public static string Schedule(IReadOnlyList<string> steps, int chosen)
    {
        ArgumentNullException.ThrowIfNull(steps);
        string Part(IEnumerable<string> s)
        {
            var parts = new List<string>();
            string? who = null;
            var n = 0;
            foreach (var x in s)
            {
                var w = x.Split(':')[0];
                if (w == who)
                {
                    n++;
                    continue;
                }

                if (who is not null)
                {
                    parts.Add(n > 1 ? $"{who}×{n}" : who);
                }

                who = w;
                n = 1;
            }

            if (who is not null)
            {
                parts.Add(n > 1 ? $"{who}×{n}" : who);
            }

            return string.Join(" ", parts);
        }

        var rest = Part(steps.Skip(chosen));
        return Part(steps.Take(chosen)) + (rest.Length > 0 ? " | " + rest : "");
    }
}
