using IommuLab.Firmware.Lint;
using IommuLab.Firmware.Topology;
using IommuLab.Model.Lint;

namespace IommuLab.Cli.Rendering;

/// <summary>
/// Lint findings as compiler-style lines, <c>FILE: LOCATION: severity [rule] message</c> with the fix hint on the next
/// line, then one summary line. Files without findings print nothing.
/// </summary>
public static class LintText
{
    public static void Write(IReadOnlyList<LintReport> reports, LintRun run, TextWriter w)
    {
        ArgumentNullException.ThrowIfNull(reports);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(w);
        foreach (var f in reports.SelectMany(r => r.Findings))
        {
            w.WriteLine($"{f.File}: {f.Location}: {Severities.Name(f.Severity)} [{f.RuleId}] {f.Message}");
            if (f.FixHint.Length > 0)
            {
                w.WriteLine($"    fix: {f.FixHint}");
            }
        }

        var all = reports.SelectMany(r => r.Findings).ToList();
        int Count(ProblemSeverity s) => all.Count(f => f.Severity == s);
        w.WriteLine($"lint: {reports.Count} file(s), {Count(ProblemSeverity.Error)} error(s), {Count(ProblemSeverity.Warning)} warning(s), "
            + $"{Count(ProblemSeverity.Info)} info; profiles {string.Join(", ", run.Profiles)}; fail on {Severities.Name(run.FailOn)}");
    }
}

/// <summary>The settings of one lint run, as the reports state them.</summary>
public sealed record LintRun(IReadOnlyList<string> Profiles, ProblemSeverity FailOn);
